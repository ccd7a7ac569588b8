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

	mu    sync.Mutex
	cur   string
	curAt time.Time
	line  *Line // the live line of the running item
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
	t.line = StartLine(t.w, time.Second, func() string {
		t.mu.Lock()
		defer t.mu.Unlock()
		return fmt.Sprintf("[%d/%d] %s: running %s (elapsed %s%s)", t.done+1, t.total, t.cur, round(t.now().Sub(t.curAt)), round(t.now().Sub(t.start)), t.left())
	})
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

func (t *Tracker) stopRedraw() {
	if t.line != nil {
		t.line.Stop()
		t.line = nil
	}
}

func round(d time.Duration) string {
	if d < time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// Line is a status line redrawn in place on a terminal: at once, every
// interval, and after each line printed above it. It is for writers that
// are terminals (IsTerminal); its goroutine is owned by the Line and
// stopped by Stop.
type Line struct {
	w    io.Writer
	text func() string

	mu      sync.Mutex // serialises the writes
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// StartLine draws text() on w now and every interval until Stop. text is
// called from the Line's goroutine and from Println, with the Line's lock
// held: it must not call the Line.
func StartLine(w io.Writer, every time.Duration, text func() string) *Line {
	l := &Line{w: w, text: text, stop: make(chan struct{}), stopped: make(chan struct{})}
	l.Redraw()
	go l.loop(every)
	return l
}

func (l *Line) loop(every time.Duration) {
	defer close(l.stopped)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
			l.Redraw()
		}
	}
}

// Redraw draws the line now.
func (l *Line) Redraw() {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprint(l.w, "\r\033[K"+l.text())
}

// Println prints s as a line of its own above the live line, which it
// then redraws.
func (l *Line) Println(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprint(l.w, "\r\033[K"+s+"\n"+l.text())
}

// Stop stops the redraw and clears the line; later calls do nothing.
func (l *Line) Stop() {
	l.once.Do(func() {
		close(l.stop)
		<-l.stopped
		l.mu.Lock()
		defer l.mu.Unlock()
		fmt.Fprint(l.w, "\r\033[K")
	})
}
