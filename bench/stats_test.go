package bench

import (
	"os"
	"testing"
	"time"
)

func TestDistribution(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		var out []time.Duration
		for _, v := range vs {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // reversed: Distribution sorts
	}
	for _, tc := range []struct {
		name               string
		in                 []time.Duration
		min, p50, p99, max int
	}{
		{"empty", nil, 0, 0, 0, 0},
		{"one", ms(7), 7, 7, 7, 7},
		{"two", ms(9, 3), 3, 3, 9, 9},
		{"hundred", ms(hundred...), 1, 50, 99, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Distribution(tc.in)
			got := []time.Duration{d.Min, d.P50, d.P99, d.Max}
			want := ms(tc.min, tc.p50, tc.p99, tc.max)
			if tc.in == nil {
				want = []time.Duration{0, 0, 0, 0}
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("min/p50/p99/max = %v, want %v", got, want)
				}
			}
			if d.N != len(tc.in) {
				t.Fatalf("N = %d, want %d", d.N, len(tc.in))
			}
		})
	}
}

func TestProcReaders(t *testing.T) {
	pid := os.Getpid()
	rss, err := RSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 || rss > 1<<34 {
		t.Fatalf("RSS of this test = %d bytes: not plausible", rss)
	}
	// Burn CPU until the kernel has counted a tick (bounded: 5 s of wall time).
	var u, s time.Duration
	deadline := time.Now().Add(5 * time.Second)
	for x := 0; u+s == 0 && time.Now().Before(deadline); x++ {
		if x%100000 == 0 {
			u, s, err = CPUTime(pid)
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if u+s <= 0 {
		t.Fatalf("CPU time of this test = %v + %v after 5 s of busy work", u, s)
	}
	if _, err := RSS(-1); err == nil {
		t.Fatal("RSS(-1) gave no error")
	}
	pids, err := FindPIDs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range pids {
		found = found || p == pid
	}
	if !found {
		t.Fatalf("FindPIDs(%q) = %v, missing this process %d", os.Args[0], pids, pid)
	}
	if Load1() < 0 {
		t.Fatalf("load average unreadable: %q", LoadAvg())
	}
}
