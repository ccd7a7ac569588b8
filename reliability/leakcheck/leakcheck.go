// Package leakcheck finds goroutines a test package left running. It is for
// TestMain (Main) and for single tests (Check); it compares goroutine stacks
// with a snapshot taken before the tests ran, polling until the extra
// goroutines are gone or a deadline passes, so goroutines that are merely
// finishing do not count as leaks. It is not a profiler and not a
// replacement for cancelling what you start.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DefaultGrace is how long Main waits for goroutines to finish.
const DefaultGrace = 5 * time.Second

// ignored are stacks that belong to the runtime or the test framework, or
// that live for the whole process by design.
var ignored = []string{
	"testing.(*M).",
	"testing.tRunner",
	"testing.runFuzzing",
	"testing.(*F).Fuzz",
	"testing.runTests",
	"testing.(*T).Run",
	"testing.(*T).Parallel",
	"os/signal.signal_recv",
	"os/signal.loop",
	"runtime.goexit0",
	"runtime.ReadTrace",
	"runtime/trace.Start",
	"internal/fuzz.",
}

// Goroutine is one goroutine of a stack dump.
type Goroutine struct {
	ID    int64
	State string
	Stack string
}

func (g Goroutine) String() string { return g.Stack }

// Snapshot returns every goroutine but the caller's.
func Snapshot() []Goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	blocks := strings.Split(strings.TrimSpace(string(buf)), "\n\n")
	var out []Goroutine
	for i, b := range blocks {
		if i == 0 { // runtime.Stack puts the caller first
			continue
		}
		head, _, _ := strings.Cut(b, "\n")
		// "goroutine 12 [chan receive, 2 minutes]:"
		f := strings.Fields(head)
		if len(f) < 3 || f[0] != "goroutine" {
			continue
		}
		id, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		state := strings.TrimSuffix(strings.TrimPrefix(strings.Join(f[2:], " "), "["), "]:")
		out = append(out, Goroutine{ID: id, State: state, Stack: b})
	}
	return out
}

// Options tune a check.
type Options struct {
	// Grace bounds the wait for extra goroutines to end (default DefaultGrace).
	Grace time.Duration
	// Ignore lists extra substrings; a goroutine whose stack contains one is
	// not a leak.
	Ignore []string
}

// Leaked returns the goroutines that are neither in before nor ignored,
// polling every 10ms until there are none or the grace period has passed.
func Leaked(before []Goroutine, o Options) []Goroutine {
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	known := map[int64]bool{}
	for _, g := range before {
		known[g.ID] = true
	}
	deadline := time.Now().Add(o.Grace)
	for {
		var extra []Goroutine
		for _, g := range Snapshot() {
			if known[g.ID] || isIgnored(g.Stack, o.Ignore) {
				continue
			}
			extra = append(extra, g)
		}
		if len(extra) == 0 || time.Now().After(deadline) {
			return extra
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond) // poll pace, the verdict is the stack dump
	}
}

func isIgnored(stack string, extra []string) bool {
	return slices.ContainsFunc(ignored, func(s string) bool { return strings.Contains(stack, s) }) ||
		slices.ContainsFunc(extra, func(s string) bool { return strings.Contains(stack, s) })
}

// Report formats leaked goroutines for a failure message.
func Report(gs []Goroutine) string {
	var b strings.Builder
	fmt.Fprintf(&b, "leakcheck: %d goroutine(s) still running after the tests:\n", len(gs))
	for _, g := range gs {
		b.WriteString("\n")
		b.WriteString(g.Stack)
		b.WriteString("\n")
	}
	return b.String()
}

// Check registers, on t, a cleanup that fails t if goroutines started
// during the test are still running after its grace period. Call it first
// in the test so it runs after every other cleanup.
func Check(t testing.TB, o Options) {
	t.Helper()
	before := Snapshot()
	t.Cleanup(func() {
		if gs := Leaked(before, o); len(gs) > 0 {
			t.Error(Report(gs))
		}
	})
}

// Main runs the tests of a package and then fails the run (exit status 1)
// when goroutines started by the tests are still running after the grace
// period. Use it as the whole TestMain:
//
//	func TestMain(m *testing.M) { leakcheck.Main(m, leakcheck.Options{}) }
//
// P2PLAB_LEAKCHECK=off skips the check.
func Main(m *testing.M, o Options) {
	before := Snapshot()
	code := m.Run()
	if os.Getenv("P2PLAB_LEAKCHECK") != "off" {
		if gs := Leaked(before, o); len(gs) > 0 {
			fmt.Fprint(os.Stderr, Report(gs))
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}
