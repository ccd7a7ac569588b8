package sim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

var errExited = errors.New("the program exited")

// errVerdict, returned by a polled check, ends the poll: what was seen
// cannot change any more (a line that must not appear did).
var errVerdict = errors.New("settled")

// ErrDeadline is wrapped by an ExpectError whose expectation did not come
// true by its deadline: within, counted from the start of the last action
// step (docs/scenarios.md, Expectations).
var ErrDeadline = errors.New("not true by the deadline")

// pollInterval paces every polled wait.
const pollInterval = 50 * time.Millisecond

// readGrace is how long after its deadline a wait judged by timestamps
// (events, log lines, deliveries) keeps reading: what happened in time may
// reach the lab a little later (a long poll, a log read), and the verdict
// rests on the recorded time, not on when the lab saw it.
const readGrace = time.Second

// poll calls fn every interval until it returns nil, fn returns errExited,
// or ctx ends; the error then is fn's last.
func poll(ctx context.Context, interval time.Duration, fn func() error) error {
	return pollCtx(ctx, interval, func(context.Context) error { return fn() })
}

// pollCtx is poll whose fn gets ctx: every call fn makes is bounded by the
// poll's own end, so one slow call cannot outlive it.
func pollCtx(ctx context.Context, interval time.Duration, fn func(ctx context.Context) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if errors.Is(err, errExited) || errors.Is(err, errVerdict) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// window is the time an expectation has to come true: within, counted
// from a mark (the start of the last action step, or a send).
type window struct {
	from   time.Time
	within time.Duration
	origin string // what from is, for messages: "the last action"
}

// windowOf counts within from the mark (from now for a zero Mark).
func windowOf(m Mark, within time.Duration) window {
	w := window{from: m.Time, within: within, origin: m.name}
	if w.from.IsZero() {
		w.from, w.origin = time.Now(), "the call"
	}
	if w.origin == "" {
		w.origin = "the mark"
	}
	return w
}

func (w window) deadline() time.Time { return w.from.Add(w.within) }

// String is how messages name the window: "within 300ms of the last action".
func (w window) String() string { return fmt.Sprintf("within %s of %s", w.within, w.origin) }

// since renders how long after the window's start t is.
func (w window) since(t time.Time) string {
	return "+" + t.Sub(w.from).Round(time.Millisecond).String()
}

// late says how an expectation reached after its deadline missed it.
func (w window) late(now time.Time) string {
	return fmt.Sprintf("reached at %s, after its deadline %s (%s at %s); state read now cannot say what was true then — put the expectation before the step that outlasts it, or raise within",
		w.since(now), w.deadline().UTC().Format("15:04:05.000"), w, w.from.UTC().Format("15:04:05.000"))
}

// pollState polls live state (channel tables, server stats) until fn
// returns nil or the deadline passes. Every call fn makes gets a context
// that ends at the deadline. A wait reached after its deadline fails at
// once with ErrDeadline: state has no timestamps to judge the past by.
func pollState(ctx context.Context, w window, fn func(ctx context.Context) error) error {
	if now := time.Now(); !now.Before(w.deadline()) {
		return fmt.Errorf("%w: %s", ErrDeadline, w.late(now))
	}
	ctx, cancel := context.WithDeadline(ctx, w.deadline())
	defer cancel()
	if err := pollCtx(ctx, pollInterval, fn); err != nil {
		return fmt.Errorf("%w (by %s): %v", ErrDeadline, w.deadline().UTC().Format("15:04:05.000"), err)
	}
	return nil
}

// pollRecord polls records with timestamps (log lines) until fn returns
// nil or the deadline plus readGrace passes (at least readGrace/5 from
// now, so a wait reached late still reads once); fn judges by the
// records' own times. Every call fn makes is bounded by that end.
func pollRecord(ctx context.Context, w window, fn func(ctx context.Context) error) error {
	end := w.deadline().Add(readGrace)
	if min := time.Now().Add(readGrace / 5); end.Before(min) {
		end = min
	}
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	if err := pollCtx(ctx, pollInterval, fn); err != nil {
		return fmt.Errorf("%w: %v", ErrDeadline, err)
	}
	return nil
}

// tailFile returns the last n lines of a file ("" if unreadable).
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

func tailText(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tailFiles renders the last n lines of every *.log in dir.
func tailFiles(dir string, n int) string {
	names, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	sort.Strings(names)
	var b strings.Builder
	for _, p := range names {
		t := tailFile(p, n)
		if t == "" {
			continue
		}
		fmt.Fprintf(&b, "--- last lines of %s:\n%s\n", p, indent(t))
	}
	return b.String()
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

func tempDir() string { return os.TempDir() }
