package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// perfRecord samples the given processes with Linux perf (call graphs)
// for d when P2PLAB_BENCH_PROFILE_DIR names a folder, writing
// DIR/name.perf.data and DIR/name.perf.txt (perf report --stdio). The
// returned func waits for it. Go binaries keep frame pointers and symbols,
// so perf shows Go functions and the kernel side alike. Without the
// variable, or without perf, it does nothing.
func perfRecord(b *testing.B, name string, pids []int, d time.Duration) (wait func()) {
	dir := os.Getenv("P2PLAB_BENCH_PROFILE_DIR")
	perf, err := exec.LookPath("perf")
	if dir == "" || err != nil || len(pids) == 0 {
		return func() {}
	}
	os.MkdirAll(dir, 0o755)
	ps := make([]string, len(pids))
	for i, p := range pids {
		ps[i] = strconv.Itoa(p)
	}
	data := filepath.Join(dir, name+".perf.data")
	cmd := exec.Command(perf, "record", "-q", "-F", "997", "-g", "-p", strings.Join(ps, ","), "-o", data,
		"--", "sleep", fmt.Sprintf("%.1f", d.Seconds()))
	if err := cmd.Start(); err != nil {
		b.Logf("perf: %v", err)
		return func() {}
	}
	return func() {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				b.Logf("perf record: %v", err)
			}
		case <-time.After(d + 30*time.Second):
			cmd.Process.Kill()
			<-done
			b.Logf("perf record: killed after %s", d+30*time.Second)
			return
		}
		rep := exec.Command(perf, "report", "-i", data, "--stdio", "--no-children", "--percent-limit", "1", "-g", "none", "--sort", "dso,symbol")
		out, err := rep.CombinedOutput()
		if err != nil {
			b.Logf("perf report: %v", err)
		}
		os.WriteFile(filepath.Join(dir, name+".perf.txt"), out, 0o644)
		b.Logf("perf profile: %s", filepath.Join(dir, name+".perf.txt"))
	}
}
