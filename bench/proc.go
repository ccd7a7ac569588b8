package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RSS returns the resident set size (VmRSS) of a process in bytes.
func RSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: rss of %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != "VmRSS" {
			continue
		}
		fs := strings.Fields(v) // "12345 kB"
		if len(fs) != 2 || fs[1] != "kB" {
			return 0, fmt.Errorf("bench: rss of %d: odd VmRSS line %q", pid, v)
		}
		kb, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: rss of %d: %w", pid, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("bench: rss of %d: %w", pid, err)
	}
	return 0, fmt.Errorf("bench: rss of %d: no VmRSS (a kernel thread or a zombie?)", pid)
}

// clockTick is USER_HZ, the unit of /proc/PID/stat times (100 on Linux).
const clockTick = 100

// CPUTime returns the user and system CPU time a process has used so far
// (fields utime and stime of /proc/PID/stat).
func CPUTime(pid int) (user, sys time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("bench: cpu time of %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces: fields count from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("bench: cpu time of %d: odd stat %q", pid, b)
	}
	fs := strings.Fields(string(b[i+1:]))
	// fs[0] is field 3 (state); utime is field 14, stime field 15.
	if len(fs) < 13 {
		return 0, 0, fmt.Errorf("bench: cpu time of %d: short stat", pid)
	}
	ut, err1 := strconv.ParseInt(fs[11], 10, 64)
	st, err2 := strconv.ParseInt(fs[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("bench: cpu time of %d: odd stat %q", pid, b)
	}
	tick := time.Second / clockTick
	return time.Duration(ut) * tick, time.Duration(st) * tick, nil
}

// LoadAvg returns the 1-minute load average ("?" if unreadable), to print
// next to figures measured on a shared machine.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	fs := strings.Fields(string(b))
	if len(fs) < 3 {
		return "?"
	}
	return strings.Join(fs[:3], " ")
}

// Load1 is the 1-minute load average as a number (-1 if unreadable).
func Load1() float64 {
	fs := strings.Fields(LoadAvg())
	if len(fs) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(fs[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// FindPIDs returns the pids of processes whose command line contains every
// one of the given words (compared as whole arguments), e.g. a lab host's
// control socket path. It reads /proc once.
func FindPIDs(words ...string) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("bench: find processes: %w", err)
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		all := true
		for _, w := range words {
			found := false
			for _, a := range args {
				if a == w {
					found = true
					break
				}
			}
			if !found {
				all = false
				break
			}
		}
		if all {
			out = append(out, pid)
		}
	}
	return out, nil
}
