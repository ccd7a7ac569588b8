package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/procfs"

	benchlib "github.com/p2plab/p2plab/bench"
)

// machine describes where the figures come from.
type machine struct {
	Date               time.Time
	CPU                string
	Cores              int
	MemTotal           string
	Kernel, OS         string
	Go, Docker         string
	LoadStart, LoadEnd string
}

func machineInfo() machine {
	m := machine{Date: time.Now().UTC(), Cores: runtime.NumCPU(), LoadStart: loadAvg(), CPU: "?", MemTotal: "?"}
	if fs, err := procfs.NewDefaultFS(); err == nil {
		if cpus, err := fs.CPUInfo(); err == nil && len(cpus) > 0 {
			m.CPU = cpus[0].ModelName
		}
		if mi, err := fs.Meminfo(); err == nil && mi.MemTotal != nil {
			m.MemTotal = fmt.Sprintf("%.1f GiB", float64(*mi.MemTotal)/(1<<20)) // kB
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.OS = strings.Trim(osRelease("PRETTY_NAME"), `"`)
	m.Go = cmdOut("go", "version")
	m.Docker = cmdOut("docker", "version", "--format", "{{.Server.Version}}")
	if m.Docker == "" {
		m.Docker = "no engine answers"
	}
	return m
}

// osRelease returns the value of key in /etc/os-release ("?" if none).
func osRelease(key string) string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+"="); ok {
			return v
		}
	}
	return "?"
}

func cmdOut(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// loadAvg is the machine's 1-, 5- and 15-minute load averages ("?" if
// unreadable).
func loadAvg() string { return benchlib.LoadAvg() }
