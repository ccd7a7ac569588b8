package matrixreport

import (
	"fmt"
	"strings"
	"time"

	"github.com/p2plab/p2plab/internal/junit"
)

// JUnit returns r as a JUnit document: one testsuite "p2plab matrix",
// one testcase per pair named "row → col" (classname "matrix.<row>"). A
// Fail pair is a failure whose message names the expected and the
// achieved paths, an Error pair an error, an Unsupported pair skipped;
// the body lists the trials that did not pass. A case's time is the sum
// of its trials'.
func (r *Report) JUnit() *junit.Report {
	j := &junit.Report{Name: "p2plab matrix"}
	s := j.Suite("p2plab matrix", r.Meta.Started)
	for _, c := range r.ordered() {
		var took time.Duration
		for _, t := range c.Trials {
			took += t.Duration
		}
		jc := junit.Case{Name: c.pairName(), Classname: "matrix." + c.Row, SystemOut: c.junitOut()}
		msg := &junit.Message{
			Message: fmt.Sprintf("expected %s, achieved %s: %s", expectedText(c.Expected), c.achievedText(), c.Reason),
			Type:    string(c.Verdict),
			Text:    c.junitTrials(),
		}
		switch c.Verdict {
		case Pass:
		case Unsupported:
			jc.Skipped = msg
		case Fail:
			jc.Failure = msg
		default: // Error, and a verdict this package does not know
			jc.Error = msg
		}
		j.Add(s, jc, took)
	}
	return j
}

// WriteJUnit writes r's JUnit document to path.
func (r *Report) WriteJUnit(path string) error {
	if err := r.JUnit().Write(path); err != nil {
		return fmt.Errorf("matrix: %w", err)
	}
	return nil
}

// junitOut is the pair's figures, one per line.
func (c *Cell) junitOut() string {
	return fmt.Sprintf("expected: %s\nachieved: %s\nsuccess: %s, rate %s\ntime to direct: p50 %s, p99 %s\nmessages: %d sent, %d delivered\n",
		expectedText(c.Expected), c.achievedText(), c.successText(), c.rateText(), dur(c.P50), dur(c.P99), c.Sent, c.Delivered)
}

// junitTrials lists the trials that did not pass.
func (c *Cell) junitTrials() string {
	var b strings.Builder
	for _, t := range c.Trials {
		if t.Verdict == Pass {
			continue
		}
		fmt.Fprintf(&b, "trial %d: %s, path %s, winner %s, %d/%d delivered: %s\n", t.Index, t.Verdict, t.Path, t.winnerText(), t.Delivered, t.Sent, t.Reason)
	}
	return b.String()
}
