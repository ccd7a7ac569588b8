package reliability

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Fault kinds of a chaos schedule. Each fault is undone after its duration:
// cut by restore, freeze by thaw, kill by restart.
const (
	FaultCut    = "cut"
	FaultFreeze = "freeze"
	FaultKill   = "kill"
)

// ServerTarget names the server in a schedule.
const ServerTarget = "server"

// Fault is one entry of a chaos schedule: Kind applied to Target at At
// (from the start of the run) and undone at At+For.
type Fault struct {
	At     time.Duration
	For    time.Duration
	Kind   string
	Target string
}

// End is when the fault is undone.
func (f Fault) End() time.Duration { return f.At + f.For }

func (f Fault) String() string {
	return fmt.Sprintf("%7s %-6s %-8s for %s", f.At.Round(time.Millisecond), f.Kind, f.Target, f.For.Round(time.Millisecond))
}

// ScheduleSpec says what a schedule may do.
type ScheduleSpec struct {
	// Span is the length of the run; every fault is undone by then.
	Span time.Duration
	// Targets are the client hosts faults may hit.
	Targets []string
	// Server also lets faults hit the server (ServerTarget).
	Server bool
	// Gap is the mean pause between fault starts; MinFor and MaxFor bound
	// a fault's duration.
	Gap, MinFor, MaxFor time.Duration
	// MaxConcurrent bounds faults active at once (default 3).
	MaxConcurrent int
}

// Schedule is a reproducible random fault schedule.
type Schedule struct {
	Seed   uint64
	Faults []Fault // sorted by At
}

// NewSchedule draws a schedule from seed: the same seed and spec give the
// same schedule. A target has at most one fault active at a time, at most
// MaxConcurrent faults are active at once, and the server has at most one
// fault active with no other server fault overlapping it.
func NewSchedule(seed uint64, s ScheduleSpec) Schedule {
	if s.MaxConcurrent <= 0 {
		s.MaxConcurrent = 3
	}
	if s.Gap <= 0 {
		s.Gap = 2 * time.Second
	}
	if s.MinFor <= 0 {
		s.MinFor = time.Second
	}
	if s.MaxFor < s.MinFor {
		s.MaxFor = s.MinFor
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	targets := slices.Clone(s.Targets)
	kinds := []string{FaultCut, FaultFreeze, FaultKill}
	busyUntil := map[string]time.Duration{}
	var out []Fault
	at := time.Duration(0)
	for len(targets) > 0 || s.Server {
		// exponential-ish gaps around the mean, at least 100ms
		at += 100*time.Millisecond + time.Duration(r.ExpFloat64()*float64(s.Gap))
		dur := s.MinFor + time.Duration(r.Int64N(int64(s.MaxFor-s.MinFor)+1))
		if at+dur > s.Span {
			break
		}
		// The server gets a quarter of the faults (it is one target
		// among many clients, but the one that matters most).
		var target string
		if s.Server && (len(targets) == 0 || r.IntN(4) == 0) {
			target = ServerTarget
		} else {
			target = targets[r.IntN(len(targets))]
		}
		kind := kinds[r.IntN(len(kinds))]
		active := 0
		for _, f := range out {
			if f.End() > at {
				active++
			}
		}
		if busyUntil[target] > at || active >= s.MaxConcurrent {
			continue // draw again later; the draws stay deterministic
		}
		busyUntil[target] = at + dur
		out = append(out, Fault{At: at, For: dur, Kind: kind, Target: target})
	}
	return Schedule{Seed: seed, Faults: out}
}

// Hit returns the targets the schedule faults at least once, sorted.
func (s Schedule) Hit() []string {
	var out []string
	for _, f := range s.Faults {
		if !slices.Contains(out, f.Target) {
			out = append(out, f.Target)
		}
	}
	slices.Sort(out)
	return out
}

// String lists the schedule, one fault per line, with its seed.
func (s Schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos schedule, seed %d (%d faults):\n", s.Seed, len(s.Faults))
	for _, f := range s.Faults {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}
