package progress

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/internal/syncbuf"
)

// clock is a fake time source the test moves by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newTracker(w *bytes.Buffer, n int, c *clock) *Tracker {
	t := New(w, n)
	t.now, t.start = c.now, c.now()
	return t
}

func TestPlainLines(t *testing.T) {
	var b bytes.Buffer
	c := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	tr := newTracker(&b, 3, c)
	if tr.live {
		t.Fatal("a bytes.Buffer is not a terminal")
	}
	tr.Begin("mesh-10")
	c.add(10 * time.Second)
	tr.Done("PASS")
	tr.Begin("relay")
	c.add(20 * time.Second)
	tr.Done("FAIL")
	want := []string{
		"[1/3] mesh-10: started (elapsed 0s)",
		"[1/3] mesh-10: PASS in 10s (elapsed 10s, about 20s left)",
		"[2/3] relay: started (elapsed 10s, about 20s left)",
		"[2/3] relay: FAIL in 20s (elapsed 30s, about 15s left)",
	}
	got := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestEstimateAfterLast(t *testing.T) {
	var b bytes.Buffer
	c := &clock{t: time.Now()}
	tr := newTracker(&b, 1, c)
	tr.Begin("only")
	c.add(time.Second)
	tr.Done("PASS")
	if e := tr.Estimate(); e != 0 {
		t.Fatalf("estimate after the last item = %v, want 0", e)
	}
	if !strings.HasSuffix(b.String(), "[1/1] only: PASS in 1s (elapsed 1s)\n") {
		t.Fatalf("last line: %q", b.String())
	}
}

func TestLiveRedrawStops(t *testing.T) {
	var b bytes.Buffer
	tr := New(&b, 2)
	tr.live = true // as on a terminal
	tr.Begin("x")
	tr.Done("PASS")
	tr.Begin("y")
	tr.Close()
	if tr.line != nil {
		t.Fatal("Close left the redraw running")
	}
	if !strings.Contains(b.String(), "\r\033[K[1/2] x: PASS") {
		t.Fatalf("the finished line does not clear the live one: %q", b.String())
	}
}

func TestStatus(t *testing.T) {
	for _, c := range []struct {
		done, total int
		el          time.Duration
		want        string
	}{
		{0, 4, 0, "elapsed 0s"},
		{1, 4, 30 * time.Second, "elapsed 30s, about 1m30s left"},
		{4, 4, 2 * time.Minute, "elapsed 2m0s"},
	} {
		if got := Status(c.done, c.total, c.el); got != c.want {
			t.Errorf("Status(%d, %d, %v) = %q, want %q", c.done, c.total, c.el, got, c.want)
		}
	}
}

func TestLine(t *testing.T) {
	var b syncbuf.Buffer
	n := 0
	l := StartLine(&b, time.Hour, func() string { n++; return fmt.Sprintf("status %d", n) })
	l.Println("one")
	l.Redraw()
	l.Stop()
	l.Stop()
	want := "\r\033[Kstatus 1\r\033[Kone\nstatus 2\r\033[Kstatus 3\r\033[K"
	if got := b.String(); got != want {
		t.Fatalf("line output %q, want %q", got, want)
	}
}
