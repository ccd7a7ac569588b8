package reliability

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var testSpec = ScheduleSpec{
	Span: 60 * time.Second, Targets: []string{"c00", "c01", "c02", "c03", "c04", "c05"}, Server: true,
	Gap: 2 * time.Second, MinFor: time.Second, MaxFor: 5 * time.Second, MaxConcurrent: 3,
}

func TestScheduleSameSeedSameSchedule(t *testing.T) {
	for _, seed := range []uint64{0, 1, 42, 1 << 40} {
		a, b := NewSchedule(seed, testSpec), NewSchedule(seed, testSpec)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d gave two schedules:\n%s\n%s", seed, a, b)
		}
		if len(a.Faults) < 10 {
			t.Fatalf("seed %d: only %d faults in 60s:\n%s", seed, len(a.Faults), a)
		}
	}
	if reflect.DeepEqual(NewSchedule(1, testSpec).Faults, NewSchedule(2, testSpec).Faults) {
		t.Fatal("seeds 1 and 2 gave the same schedule")
	}
}

func TestScheduleRules(t *testing.T) {
	for seed := range uint64(200) {
		s := NewSchedule(seed, testSpec)
		kinds := map[string]int{}
		for i, f := range s.Faults {
			kinds[f.Kind]++
			if f.End() > testSpec.Span || f.For < testSpec.MinFor || f.For > testSpec.MaxFor {
				t.Fatalf("seed %d: fault %s outside the span or duration bounds", seed, f)
			}
			if i > 0 && f.At < s.Faults[i-1].At {
				t.Fatalf("seed %d: not sorted at %s", seed, f)
			}
			active := 0
			for _, g := range s.Faults[:i] {
				if g.End() > f.At {
					active++
					if g.Target == f.Target {
						t.Fatalf("seed %d: %s overlaps %s on one target", seed, f, g)
					}
				}
			}
			if active >= testSpec.MaxConcurrent {
				t.Fatalf("seed %d: %d faults active when %s starts", seed, active, f)
			}
		}
		if seed < 5 && !slices.Contains(s.Hit(), ServerTarget) {
			t.Fatalf("seed %d never hits the server:\n%s", seed, s)
		}
		if seed == 0 && (kinds[FaultCut] == 0 || kinds[FaultFreeze] == 0 || kinds[FaultKill] == 0) {
			t.Fatalf("seed 0 misses a kind: %v", kinds)
		}
	}
}

func TestReadProcSelf(t *testing.T) {
	a, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for i := range 20_000_000 { // burn a little CPU so the counter moves
		x += i
	}
	_ = x
	b, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if a.RSS <= 0 || a.HWM < a.RSS || a.Threads < 1 || b.CPU < a.CPU {
		t.Fatalf("implausible samples %+v then %+v", a, b)
	}
	if _, err := ReadProc(1 << 30); err == nil {
		t.Fatal("no error for a pid that cannot exist")
	}
	// one more open file shows in the descriptor count
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ReadProc(os.Getpid())
	f.Close()
	if err != nil || c.FDs != b.FDs+1 {
		t.Fatalf("descriptors %d with one more file open, %d before (%v)", c.FDs, b.FDs, err)
	}
}

func TestReadLoadAvg(t *testing.T) {
	la, err := ReadLoadAvg()
	if err != nil {
		t.Fatal(err)
	}
	if la.Load1 < 0 || la.Load5 < 0 || la.Load15 < 0 || !strings.HasPrefix(la.String(), "load average: ") {
		t.Fatalf("implausible %+v (%s)", la, la)
	}
}
