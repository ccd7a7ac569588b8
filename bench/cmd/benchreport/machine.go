package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
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
	m := machine{Date: time.Now().UTC(), Cores: runtime.NumCPU(), LoadStart: loadAvg()}
	m.CPU = procField("/proc/cpuinfo", "model name")
	m.MemTotal = procField("/proc/meminfo", "MemTotal")
	if kb, err := strconv.ParseFloat(strings.TrimSuffix(m.MemTotal, " kB"), 64); err == nil {
		m.MemTotal = fmt.Sprintf("%.1f GiB", kb/(1<<20))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.OS = strings.Trim(procField("/etc/os-release", "PRETTY_NAME="), `"`)
	m.Go = cmdOut("go", "version")
	m.Docker = cmdOut("docker", "version", "--format", "{{.Server.Version}}")
	if m.Docker == "" {
		m.Docker = "no engine answers"
	}
	return m
}

// procField returns the value of the first "key: value" (or key=value
// when key ends with '=') line of a file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasSuffix(key, "=") {
			if v, ok := strings.CutPrefix(l, key); ok {
				return v
			}
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
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

func loadAvg() string {
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
