package main

import (
	"strconv"
	"strings"
)

// bench is one benchmark result line: its name without the -GOMAXPROCS
// suffix, the iteration count and its metrics by unit.
type bench struct {
	Name    string
	N       int64
	Metrics map[string]float64
	Line    string
}

// parseBenches reads the result lines of `go test -bench` output.
func parseBenches(out string) []bench {
	var bs []bench
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) < 4 || len(fs)%2 != 0 {
			continue
		}
		n, err := strconv.ParseInt(fs[1], 10, 64)
		if err != nil {
			continue
		}
		b := bench{Name: trimProcs(fs[0]), N: n, Metrics: map[string]float64{}, Line: strings.TrimSpace(line)}
		ok := true
		for i := 2; i+1 < len(fs); i += 2 {
			v, err := strconv.ParseFloat(fs[i], 64)
			if err != nil {
				ok = false
				break
			}
			b.Metrics[fs[i+1]] = v
		}
		if ok {
			bs = append(bs, b)
		}
	}
	return bs
}

// trimProcs drops the "-2" GOMAXPROCS suffix of a benchmark name.
func trimProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name
	}
	if _, err := strconv.Atoi(name[i+1:]); err != nil {
		return name
	}
	return name[:i]
}

// parseSkips returns the reasons of skipped benchmarks or specs.
func parseSkips(out string) []string {
	var s []string
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--- SKIP:") && i+1 < len(lines) {
			s = append(s, strings.TrimSpace(t[len("--- SKIP:"):])+": "+strings.TrimSpace(lines[i+1]))
		}
	}
	return s
}

// parseSpecs returns Ginkgo's "Ran N of M Specs in T" summary ("" if none).
func parseSpecs(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "Ran ") && strings.Contains(t, " Specs in ") {
			return t
		}
	}
	return ""
}
