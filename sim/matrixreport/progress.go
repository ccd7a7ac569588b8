package matrixreport

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/p2plab/p2plab/internal/progress"
)

// Progress tells a person where a matrix run is: pair i of n, the trials
// done, the time spent and an estimate of the time left (from the mean
// time per trial so far). On a terminal (progress.IsTerminal) a status
// line is redrawn in place every second, with a line of its own above it
// for each trial that did not pass and each pair that finished; anywhere
// else every trial and pair gets a plain line. Its methods may be called
// from several goroutines (pairs run in parallel).
type Progress struct {
	w       io.Writer
	total   int // trials
	pairs   int
	perPair int
	now     func() time.Time
	start   time.Time

	mu      sync.Mutex
	ordinal map[string]int // pair → its number, in the order first seen
	trials  map[string]int // pair → trials done
	passed  map[string]int // pair → trials passed
	running []string       // pairs started and not finished, oldest first
	done    int            // trials done
	finish  int            // pairs finished
	line    *progress.Line // the live line on a terminal; nil elsewhere
}

// NewProgress returns a Progress of pairs pairs of trialsPerPair trials
// each, writing to w. Close stops it.
func NewProgress(w io.Writer, pairs, trialsPerPair int) *Progress {
	p := newProgress(w, pairs, trialsPerPair, time.Now)
	if progress.IsTerminal(w) {
		p.line = progress.StartLine(w, time.Second, p.status)
	}
	return p
}

func newProgress(w io.Writer, pairs, perPair int, now func() time.Time) *Progress {
	return &Progress{
		w: w, total: pairs * perPair, pairs: pairs, perPair: perPair, now: now, start: now(),
		ordinal: map[string]int{}, trials: map[string]int{}, passed: map[string]int{},
	}
}

// Start says that the pair row → col starts. It is optional: a pair's
// first Trial starts it too.
func (p *Progress) Start(row, col string) {
	p.mu.Lock()
	msg, started := p.startLocked(pairKey(row, col))
	p.mu.Unlock()
	if started {
		p.println(msg, false)
	}
}

// startLocked registers pair and returns its "started" line, and whether
// it was new.
func (p *Progress) startLocked(pair string) (string, bool) {
	if _, ok := p.ordinal[pair]; ok {
		return "", false
	}
	p.ordinal[pair] = len(p.ordinal) + 1
	p.running = append(p.running, pair)
	return fmt.Sprintf("%s: started (%s)", p.pairLocked(pair), p.figuresLocked()), true
}

// Trial says that trial t of the pair row → col ended.
func (p *Progress) Trial(row, col string, t *Trial) {
	pair := pairKey(row, col)
	p.mu.Lock()
	p.startLocked(pair)
	p.done++
	p.trials[pair]++
	if t.Verdict == Pass {
		p.passed[pair]++
	}
	what := fmt.Sprintf("trial %d of %d %s, %s", p.trials[pair], p.perPair, oneLine(string(t.Verdict)), oneLine(string(orNone(t.Path))))
	if t.Reason != "" {
		what += ": " + oneLine(t.Reason)
	}
	msgs := []string{fmt.Sprintf("%s: %s (%s)", p.pairLocked(pair), what, p.figuresLocked())}
	important := t.Verdict != Pass
	if p.trials[pair] == p.perPair {
		p.finish++
		p.running = remove(p.running, pair)
		msgs = append(msgs, fmt.Sprintf("%s: done, %d of %d trials passed (%d of %d pairs done)", p.pairLocked(pair), p.passed[pair], p.perPair, p.finish, p.pairs))
	}
	p.mu.Unlock()
	for i, m := range msgs {
		// On a terminal a passing trial only moves the status line.
		p.println(m, important || i > 0)
	}
}

// Close stops the live line.
func (p *Progress) Close() {
	if p.line != nil {
		p.line.Stop()
	}
}

// println prints msg: always as a plain line off a terminal; on one only
// when keep, and otherwise just redraws the status line.
func (p *Progress) println(msg string, keep bool) {
	switch {
	case p.line == nil:
		fmt.Fprintln(p.w, msg)
	case keep:
		p.line.Println(msg)
	default:
		p.line.Redraw()
	}
}

// status is the live line: the trials done, the pairs running, the time.
func (p *Progress) status() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	run := "waiting for the first pair"
	if n := len(p.running); n > 0 {
		run = p.pairLocked(p.running[n-1]) + fmt.Sprintf(" trial %d of %d", p.trials[p.running[n-1]]+1, p.perPair)
		if n > 1 {
			run += fmt.Sprintf(" (and %d more running)", n-1)
		}
	}
	return fmt.Sprintf("%s · %s", run, p.figuresLocked())
}

// pairLocked is "pair 3 of 36 full-cone → symmetric".
func (p *Progress) pairLocked(pair string) string {
	return fmt.Sprintf("pair %d of %d %s", p.ordinal[pair], p.pairs, pair)
}

// figuresLocked is "23 of 360 trials done, elapsed 1m2s, about 15m left".
func (p *Progress) figuresLocked() string {
	return fmt.Sprintf("%d of %d trials done, %s", p.done, p.total, progress.Status(p.done, p.total, p.now().Sub(p.start)))
}

func pairKey(row, col string) string { return oneLine(row) + " → " + oneLine(col) }

// oneLine keeps a name or a reason from breaking the terminal's lines
// (or sending it escape sequences).
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func orNone(p Path) Path {
	if p == "" {
		return PathNone
	}
	return p
}

func remove(ss []string, s string) []string {
	for i, x := range ss {
		if x == s {
			return append(ss[:i:i], ss[i+1:]...)
		}
	}
	return ss
}
