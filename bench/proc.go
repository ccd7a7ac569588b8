package bench

import (
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/procfs"
)

// The /proc readers below use github.com/prometheus/procfs.

// RSS returns the resident set size (VmRSS) of a process in bytes.
func RSS(pid int) (int64, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, fmt.Errorf("bench: rss of %d: %w", pid, err)
	}
	st, err := p.NewStatus()
	if err != nil {
		return 0, fmt.Errorf("bench: rss of %d: %w", pid, err)
	}
	if st.VmRSS == 0 {
		return 0, fmt.Errorf("bench: rss of %d: no VmRSS (a kernel thread or a zombie?)", pid)
	}
	return int64(st.VmRSS), nil
}

// clockTick is USER_HZ, the unit of /proc/PID/stat times (100 on Linux).
const clockTick = 100

// CPUTime returns the user and system CPU time a process has used so far
// (fields utime and stime of /proc/PID/stat).
func CPUTime(pid int) (user, sys time.Duration, err error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, 0, fmt.Errorf("bench: cpu time of %d: %w", pid, err)
	}
	st, err := p.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("bench: cpu time of %d: %w", pid, err)
	}
	tick := time.Second / clockTick
	return time.Duration(st.UTime) * tick, time.Duration(st.STime) * tick, nil
}

// LoadAvg returns the 1-, 5- and 15-minute load averages ("?" if
// unreadable), to print next to figures measured on a shared machine.
func LoadAvg() string {
	l, err := loadAvg()
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%.2f %.2f %.2f", l.Load1, l.Load5, l.Load15)
}

// Load1 is the 1-minute load average as a number (-1 if unreadable).
func Load1() float64 {
	l, err := loadAvg()
	if err != nil {
		return -1
	}
	return l.Load1
}

func loadAvg() (*procfs.LoadAvg, error) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return nil, err
	}
	return fs.LoadAvg()
}

// FindPIDs returns the pids of processes whose command line contains every
// one of the given words (compared as whole arguments), e.g. a lab host's
// control socket path. It reads /proc once.
func FindPIDs(words ...string) ([]int, error) {
	procs, err := procfs.AllProcs()
	if err != nil {
		return nil, fmt.Errorf("bench: find processes: %w", err)
	}
	var out []int
	for _, p := range procs {
		args, err := p.CmdLine()
		if err != nil || len(args) == 0 { // gone, or a kernel thread
			continue
		}
		if !slices.ContainsFunc(words, func(w string) bool { return !slices.Contains(args, w) }) {
			out = append(out, p.PID)
		}
	}
	return out, nil
}
