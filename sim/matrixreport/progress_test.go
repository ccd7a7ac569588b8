package matrixreport

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2plab/p2plab/internal/syncbuf"

	"github.com/p2plab/p2plab/internal/progress"
)

// clock is a fake time source the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// script runs two pairs of two trials, the second pair's first trial
// failing, ten seconds a trial.
func script(p *Progress, c *clock) {
	p.Start("none", "full-cone")
	c.add(10 * time.Second)
	p.Trial("none", "full-cone", &Trial{Index: 1, Verdict: Pass, Path: PathDirect})
	c.add(10 * time.Second)
	p.Trial("none", "full-cone", &Trial{Index: 2, Verdict: Pass, Path: PathDirect})
	c.add(10 * time.Second)
	p.Trial("symmetric", "symmetric\x1b[2J", &Trial{Index: 1, Verdict: Fail, Path: PathRelay, Reason: "relay where\nudp-punch was possible"})
	c.add(10 * time.Second)
	p.Trial("symmetric", "symmetric\x1b[2J", &Trial{Index: 2, Verdict: Error, Reason: "lab down"})
}

func TestProgressPlain(t *testing.T) {
	var b bytes.Buffer
	c := &clock{t: time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)}
	p := newProgress(&b, 2, 2, c.now)
	script(p, c)
	p.Close()
	want := []string{
		"pair 1 of 2 none → full-cone: started (0 of 4 trials done, elapsed 0s)",
		"pair 1 of 2 none → full-cone: trial 1 of 2 pass, direct (1 of 4 trials done, elapsed 10s, about 30s left)",
		"pair 1 of 2 none → full-cone: trial 2 of 2 pass, direct (2 of 4 trials done, elapsed 20s, about 20s left)",
		"pair 1 of 2 none → full-cone: done, 2 of 2 trials passed (1 of 2 pairs done)",
		"pair 2 of 2 symmetric → symmetric [2J: trial 1 of 2 fail, relay: relay where udp-punch was possible (3 of 4 trials done, elapsed 30s, about 10s left)",
		"pair 2 of 2 symmetric → symmetric [2J: trial 2 of 2 error, none: lab down (4 of 4 trials done, elapsed 40s)",
		"pair 2 of 2 symmetric → symmetric [2J: done, 0 of 2 trials passed (2 of 2 pairs done)",
	}
	if got := strings.TrimRight(b.String(), "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("lines:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func TestProgressLive(t *testing.T) {
	var b syncbuf.Buffer
	c := &clock{t: time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)}
	p := newProgress(&b, 2, 2, c.now)
	p.line = progress.StartLine(&b, time.Hour, p.status) // as on a terminal
	script(p, c)
	p.Close()
	out := b.String()
	// Lines that stay: the ends of lines, each after a clear.
	var kept []string
	for _, seg := range strings.Split(out, "\n") {
		if i := strings.LastIndex(seg, "\r\033[K"); i >= 0 {
			seg = seg[i+len("\r\033[K"):]
		}
		kept = append(kept, seg)
	}
	kept = kept[:len(kept)-1] // the status line, cleared by Close
	want := []string{
		"pair 1 of 2 none → full-cone: done, 2 of 2 trials passed (1 of 2 pairs done)",
		"pair 2 of 2 symmetric → symmetric [2J: trial 1 of 2 fail, relay: relay where udp-punch was possible (3 of 4 trials done, elapsed 30s, about 10s left)",
		"pair 2 of 2 symmetric → symmetric [2J: trial 2 of 2 error, none: lab down (4 of 4 trials done, elapsed 40s)",
		"pair 2 of 2 symmetric → symmetric [2J: done, 0 of 2 trials passed (2 of 2 pairs done)",
	}
	if strings.Join(kept, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines kept:\n%s\nwant:\n%s", strings.Join(kept, "\n"), strings.Join(want, "\n"))
	}
	for _, s := range []string{
		"\r\033[Kwaiting for the first pair · 0 of 4 trials done, elapsed 0s",
		"\r\033[Kpair 1 of 2 none → full-cone trial 2 of 2 · 1 of 4 trials done, elapsed 10s, about 30s left",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("no status line %q in %q", s, out)
		}
	}
	if !strings.HasSuffix(out, "\r\033[K") {
		t.Errorf("Close did not clear the status line: %q", out)
	}
	if strings.Contains(out, "\x1b[2J") {
		t.Error("a kind's escape sequence reached the terminal")
	}
}

// TestProgressParallel runs pairs from several goroutines (as the runner
// does) under the race detector.
func TestProgressParallel(t *testing.T) {
	var b syncbuf.Buffer
	p := NewProgress(&b, 4, 5)
	p.line = progress.StartLine(&b, time.Millisecond, p.status)
	var wg sync.WaitGroup
	for _, col := range []string{"a", "b", "c", "d"} {
		wg.Go(func() {
			for i := 1; i <= 5; i++ {
				p.Trial("x", col, &Trial{Index: i, Verdict: Pass})
			}
		})
	}
	wg.Wait()
	p.Close()
	if !strings.Contains(b.String(), "(4 of 4 pairs done)") {
		t.Errorf("no last pair line in %q", b.String())
	}
}
