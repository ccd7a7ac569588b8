package reliability

import (
	"fmt"
	"time"

	"github.com/prometheus/procfs"
)

// ClockTicks is the kernel's USER_HZ, the unit of CPU times in
// /proc/<pid>/stat (100 on Linux for every architecture Go supports).
const ClockTicks = 100

// ProcSample is what /proc says about one process at one time.
type ProcSample struct {
	Time time.Time
	// CPU is user + system time so far.
	CPU time.Duration
	// RSS and HWM are the resident set size now and at its peak, in bytes.
	RSS, HWM int64
	// Threads is the number of threads.
	Threads int
	// FDs is the number of open file descriptors.
	FDs int
}

// ReadProc samples process pid from /proc (stat and status, read with
// github.com/prometheus/procfs).
func ReadProc(pid int) (ProcSample, error) {
	s := ProcSample{Time: time.Now()}
	p, err := procfs.NewProc(pid)
	if err != nil {
		return s, fmt.Errorf("reliability: pid %d: %w", pid, err)
	}
	stat, err := p.Stat()
	if err != nil {
		return s, fmt.Errorf("reliability: read stat of pid %d: %w", pid, err)
	}
	s.CPU = time.Duration(stat.UTime+stat.STime) * time.Second / ClockTicks
	s.Threads = stat.NumThreads
	status, err := p.NewStatus()
	if err != nil {
		return s, fmt.Errorf("reliability: read status of pid %d: %w", pid, err)
	}
	s.RSS, s.HWM = int64(status.VmRSS), int64(status.VmHWM)
	if s.FDs, err = p.FileDescriptorsLen(); err != nil {
		return s, fmt.Errorf("reliability: count descriptors of pid %d: %w", pid, err)
	}
	return s, nil
}

// LoadAvg is the machine's 1-, 5- and 15-minute load average, what
// uptime(1) prints (read from /proc/loadavg with procfs).
type LoadAvg struct{ Load1, Load5, Load15 float64 }

// ReadLoadAvg reads the load average.
func ReadLoadAvg() (LoadAvg, error) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return LoadAvg{}, fmt.Errorf("reliability: procfs: %w", err)
	}
	la, err := fs.LoadAvg()
	if err != nil {
		return LoadAvg{}, fmt.Errorf("reliability: load average: %w", err)
	}
	return LoadAvg{la.Load1, la.Load5, la.Load15}, nil
}

// String formats the load average as uptime(1) does.
func (l LoadAvg) String() string {
	return fmt.Sprintf("load average: %.2f, %.2f, %.2f", l.Load1, l.Load5, l.Load15)
}

// CPUPercent is the CPU used between two samples as a percentage of one
// core.
func CPUPercent(a, b ProcSample) float64 {
	wall := b.Time.Sub(a.Time)
	if wall <= 0 {
		return 0
	}
	return 100 * float64(b.CPU-a.CPU) / float64(wall)
}
