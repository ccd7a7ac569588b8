// Package progress tells a person where long work is: item i of n, the time
// spent and an estimate of the time left. On a terminal the line of the
// running item is redrawn every second; anywhere else (CI logs, files,
// pipes) each item gets plain lines, one when it starts and one when it
// ends, so logs stay readable. It is for p2plab's own long-running tools
// (make bench, p2plab run over many files), not part of the lab's API.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Tracker reports the progress of n items done one after the other. Its
// methods may be called from one goroutine; the redraw goroutine on a
// terminal is owned by the Tracker and stopped by Done and Close.
type Tracker struct {
	w     io.Writer
	total int
	live  bool
	now   func() time.Time

	start time.Time
	done  int
	spent time.Duration // the time the finished items took

	mu      sync.Mutex
	cur     string
	curAt   time.Time
	stop    chan struct{}
	stopped chan struct{}
}

// New returns a Tracker of total items writing to w. It redraws a live line
// only when w is a terminal and the environment is not CI (CI set, or TERM
// dumb or empty).
func New(w io.Writer, total int) *Tracker {
	return &Tracker{w: w, total: total, live: IsTerminal(w), now: time.Now, start: time.Now()}
}

// IsTerminal reports whether w is a character device outside CI.
func IsTerminal(w io.Writer) bool {
	if os.Getenv("CI") != "" {
		return false
	}
	if t := os.Getenv("TERM"); t == "" || t == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Begin says that the next item, name, starts.
func (t *Tracker) Begin(name string) {
	t.stopRedraw()
	t.mu.Lock()
	t.cur, t.curAt = name, t.now()
	t.mu.Unlock()
	if !t.live {
		fmt.Fprintf(t.w, "[%d/%d] %s: started (elapsed %s%s)\n", t.done+1, t.total, name, round(t.now().Sub(t.start)), t.left())
		return
	}
	t.stop, t.stopped = make(chan struct{}), make(chan struct{})
	go t.redraw(t.stop, t.stopped)
}

// Done says that the current item ended with status (PASS, FAIL, ...).
func (t *Tracker) Done(status string) {
	t.stopRedraw()
	t.mu.Lock()
	name, took := t.cur, t.now().Sub(t.curAt)
	t.cur = ""
	t.mu.Unlock()
	t.done++
	t.spent += took
	clear := ""
	if t.live {
		clear = "\r\033[K"
	}
	fmt.Fprintf(t.w, "%s[%d/%d] %s: %s in %s (elapsed %s%s)\n", clear, t.done, t.total, name, status, round(took), round(t.now().Sub(t.start)), t.left())
}

// Close stops the redraw of an item that never got its Done.
func (t *Tracker) Close() {
	t.stopRedraw()
	if t.live {
		fmt.Fprint(t.w, "\r\033[K")
	}
}

// Estimate is the time the items not yet finished should take, from the
// mean of the finished ones; zero until one has finished.
func (t *Tracker) Estimate() time.Duration {
	if t.done == 0 || t.done >= t.total {
		return 0
	}
	return t.spent / time.Duration(t.done) * time.Duration(t.total-t.done)
}

// Status is "elapsed D, about D left" for a loop that has finished done of
// total items in elapsed, for tools that print their own item lines.
func Status(done, total int, elapsed time.Duration) string {
	s := "elapsed " + round(elapsed)
	if done > 0 && done < total {
		s += ", about " + round(elapsed/time.Duration(done)*time.Duration(total-done)) + " left"
	}
	return s
}

// left is ", about D left" once there is an estimate.
func (t *Tracker) left() string {
	if e := t.Estimate(); e > 0 {
		return ", about " + round(e) + " left"
	}
	return ""
}

func (t *Tracker) redraw(stop <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		t.mu.Lock()
		line := fmt.Sprintf("[%d/%d] %s: running %s (elapsed %s%s)", t.done+1, t.total, t.cur, round(t.now().Sub(t.curAt)), round(t.now().Sub(t.start)), t.left())
		t.mu.Unlock()
		fmt.Fprint(t.w, "\r\033[K"+line)
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

func (t *Tracker) stopRedraw() {
	if t.stop == nil {
		return
	}
	close(t.stop)
	<-t.stopped
	t.stop, t.stopped = nil, nil
}

func round(d time.Duration) string {
	if d < time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
