package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// step is one command of the run.
type step struct {
	name    string
	display string // the command as a person would type it
	argv    []string
	env     []string
	timeout time.Duration
	suite   bool // a timed test suite, not benchmarks
}

// Step outcomes.
const (
	statusOK      = "ok"
	statusFailed  = "FAILED"
	statusSkipped = "skipped"
)

// stepResult is what one step gave.
type stepResult struct {
	step
	status                string
	wall                  time.Duration
	loadBefore, loadAfter string
	benches               []bench
	skips                 []string // skip messages seen in the output
	tail                  string   // last lines of output when it failed
	specs                 string   // a suite's "Ran N of M Specs" line
	outFile               string
}

// plan lists the steps of a run. Every step is bounded: go test -timeout
// is above the step's own benchmarks' bounds, and the step is killed at
// timeout+1m regardless.
func plan(quick, suites bool, art string) []step {
	gotest := func(name, pkg, bench, benchtime string, timeout time.Duration, env ...string) step {
		argv := []string{"go", "test", "-run", "^$", "-bench", bench, "-benchtime", benchtime, "-count", "1", "-timeout", timeout.String(), pkg}
		return step{name: name, argv: argv, env: env, timeout: timeout + time.Minute,
			display: strings.TrimSpace(strings.Join(env, " ") + " " + shellJoin(argv))}
	}
	netlabTime := "5x"
	var benchEnv, smallEnv []string
	if quick {
		smallEnv = []string{"P2PLAB_BENCH_SMALL=1"}
		netlabTime = "1x"
		benchEnv = append(benchEnv, "P2PLAB_BENCH_SMALL=1")
	}
	benchEnv = append(benchEnv, "P2PLAB_BENCH_ARTIFACTS="+filepath.Join(art, "labs"), "TESTCONTAINERS_RYUK_DISABLED=true")
	s := []step{
		gotest("netlab bring-up (netns)", "./netlab/", "BringUp", netlabTime, 10*time.Minute),
		gotest("netlab bring-up (docker)", "./netlab/docker/", "DockerBringUp", "1x", 15*time.Minute, "TESTCONTAINERS_RYUK_DISABLED=true"),
		gotest("netlab impairments (netns)", "./netlab/", "Impair", "1x", 10*time.Minute, smallEnv...),
		gotest("NAT new-mapping rate (engine, and netns path)", "./netlab/", "NATNewMapping", "5000x", 5*time.Minute),
		gotest("server relay (loopback, in process)", "./server/", "Relay", "200000x", 5*time.Minute),
		gotest("lab benchmarks (bench/)", "./bench/", ".", "1x", 40*time.Minute, benchEnv...),
	}
	if suites {
		for _, b := range []struct{ name, filter string }{{"netns", "!docker"}, {"docker", "docker"}} {
			argv := []string{"go", "test", "-v", "./scenarios/...", "-count=1", "-timeout", "14m",
				"-ginkgo.label-filter=" + b.filter, "-ginkgo.timeout=12m", "-ginkgo.no-color"}
			env := []string{"TESTCONTAINERS_RYUK_DISABLED=true", "P2PLAB_ARTIFACTS=" + filepath.Join(art, "suite-"+b.name)}
			s = append(s, step{name: "core Ginkgo suite (" + b.name + ")", argv: argv, env: env, timeout: 15 * time.Minute, suite: true,
				display: shellJoin(argv)})
		}
	}
	return s
}

func shellJoin(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if strings.ContainsAny(a, " $^!*'\"") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// run runs one step, keeping its output in art.
func run(ctx context.Context, s step, art string) *stepResult {
	r := &stepResult{step: s, loadBefore: loadAvg()}
	r.outFile = filepath.Join(art, fileName(s.name)+".txt")
	f, err := os.Create(r.outFile)
	if err != nil {
		r.status, r.tail = statusFailed, err.Error()
		return r
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.argv[0], s.argv[1:]...)
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) } // let go test run its cleanups
	cmd.WaitDelay = 30 * time.Second
	var buf bytes.Buffer
	w := io.MultiWriter(f, &buf, prefixWriter{os.Stderr})
	cmd.Stdout, cmd.Stderr = w, w
	t0 := time.Now()
	err = cmd.Run()
	r.wall = time.Since(t0)
	r.loadAfter = loadAvg()
	out := buf.String()
	r.benches = parseBenches(out)
	r.skips = parseSkips(out)
	r.specs = parseSpecs(out)
	switch {
	case err == nil && !s.suite && len(r.benches) == 0:
		r.status = statusSkipped
	case err == nil:
		r.status = statusOK
	default:
		r.status = statusFailed
		var ee *exec.ExitError
		if ctx.Err() != nil {
			out += fmt.Sprintf("\nbenchreport: stopped after %s\n", s.timeout)
		} else if !errors.As(err, &ee) {
			out += "\nbenchreport: " + err.Error() + "\n"
		}
		r.tail = lastLines(stripANSI(out), 15)
	}
	if s.suite && r.status == statusOK && strings.Contains(out, "SKIPPED") && !strings.Contains(out, "Passed") {
		r.status = statusSkipped
	}
	return r
}

func fileName(s string) string {
	return strings.Trim(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, s), "-")
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// prefixWriter indents the child's output on our stderr.
type prefixWriter struct{ w io.Writer }

func (p prefixWriter) Write(b []byte) (int, error) {
	_, err := p.w.Write(b)
	return len(b), err
}

// stripANSI removes terminal colour sequences (ESC [ ... m).
func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == ';') {
				j++
			}
			if j < len(s) && s[j] == 'm' {
				i = j
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
