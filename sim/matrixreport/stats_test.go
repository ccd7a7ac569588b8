package matrixreport

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// wilsonCases are 95% Wilson score intervals computed apart from this
// package (and matching published tables: 8/10 is [0.4902, 0.9433],
// 81/263 is [0.2553, 0.3662]).
var wilsonCases = []struct {
	x, n      int
	low, high float64
}{
	{0, 10, 0, 0.2775},
	{1, 10, 0.0179, 0.4042},
	{2, 10, 0.0567, 0.5098},
	{5, 10, 0.2366, 0.7634},
	{8, 10, 0.4902, 0.9433},
	{10, 10, 0.7225, 1},
	{0, 1, 0, 0.7935},
	{1, 1, 0.2065, 1},
	{2, 2, 0.3424, 1},
	{81, 263, 0.2553, 0.3662},
	{0, 0, 0, 1}, // no trials: no information
}

// checkWilson returns how f differs from the table.
func checkWilson(f func(x, n int, z float64) (float64, float64)) []string {
	var bad []string
	for _, c := range wilsonCases {
		lo, hi := f(c.x, c.n, Z95)
		if math.Abs(lo-c.low) > 5e-5 || math.Abs(hi-c.high) > 5e-5 {
			bad = append(bad, fmt.Sprintf("%d/%d: [%.4f, %.4f], want [%.4f, %.4f]", c.x, c.n, lo, hi, c.low, c.high))
		}
	}
	return bad
}

func TestWilson(t *testing.T) {
	for _, b := range checkWilson(Wilson) {
		t.Error(b)
	}
}

// TestWilsonTableCatchesWald proves the table can fail: the normal
// (Wald) interval, the usual wrong choice, is caught at the ends and in
// the middle.
func TestWilsonTableCatchesWald(t *testing.T) {
	wald := func(x, n int, z float64) (float64, float64) {
		if n == 0 {
			return 0, 1
		}
		p := float64(x) / float64(n)
		h := z * math.Sqrt(p*(1-p)/float64(n))
		return math.Max(0, p-h), math.Min(1, p+h)
	}
	if bad := checkWilson(wald); len(bad) < len(wilsonCases)-2 {
		t.Errorf("the table lets the Wald interval through: only %d of %d rows differ: %v", len(bad), len(wilsonCases), bad)
	}
}

func TestWilsonClamps(t *testing.T) {
	for _, c := range []struct{ x, n int }{{-1, 5}, {7, 5}} {
		lo, hi := Wilson(c.x, c.n, Z95)
		if lo < 0 || hi > 1 || lo > hi {
			t.Errorf("Wilson(%d, %d) = [%v, %v], want inside [0, 1]", c.x, c.n, lo, hi)
		}
	}
}

func TestPercentile(t *testing.T) {
	ten := []time.Duration{10, 1, 9, 2, 8, 3, 7, 4, 6, 5} // 1..10, shuffled
	for _, c := range []struct {
		s    []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{[]time.Duration{7}, 50, 7},
		{[]time.Duration{7}, 99, 7},
		{ten, 50, 5},
		{ten, 90, 9},
		{ten, 99, 10},
		{ten, 100, 10},
		{ten, 1, 1},
		{[]time.Duration{3, 1, 2}, 50, 2},
		{[]time.Duration{4, 1, 3, 2}, 50, 2},
	} {
		if got := Percentile(c.s, c.p); got != c.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", c.s, c.p, got, c.want)
		}
	}
	if ten[0] != 10 {
		t.Error("Percentile sorted its argument")
	}
}

func TestSummarize(t *testing.T) {
	r := fixture()
	for _, c := range []struct {
		row, col        string
		verdict         Verdict
		runs, successes int
		sent, delivered int
		achieved        string
		p50, p99        time.Duration
		reason          string
	}{
		{"none", "none", Pass, 3, 3, 12, 12, "direct ×3", 45 * ms, 50 * ms, "all 3 trials passed"},
		{"full-cone", "symmetric", Fail, 3, 1, 12, 11, "udp-punch ×2, relay ×1", 100 * ms, 300 * ms, "2 of 3 trials fail; 1 of 12 messages lost"},
		{"symmetric", "symmetric", Pass, 1, 1, 4, 4, "relay ×1", 0, 0, "the trial passed"},
		{"full-cone", "full-cone", Unsupported, 1, 0, 4, 4, "relay ×1", 0, 0, "the client does not advertise udp-punch; it used the relay"},
		{"symmetric", "none", Error, 0, 0, 0, 0, "nothing", 0, 0, "no trials were run"},
		{"none", "symmetric", Error, 2, 1, 4, 4, "direct ×1, none ×1", 60 * ms, 60 * ms, "1 of 2 trials error"},
	} {
		cell := r.Cell(c.row, c.col)
		if cell == nil {
			t.Fatalf("no cell %s %s", c.row, c.col)
		}
		got := fmt.Sprintf("%s %d/%d %d/%d %s p50 %v p99 %v: %s", cell.Verdict, cell.Successes, cell.Runs, cell.Sent, cell.Delivered, cell.achievedText(), cell.P50, cell.P99, cell.Reason)
		want := fmt.Sprintf("%s %d/%d %d/%d %s p50 %v p99 %v: %s", c.verdict, c.successes, c.runs, c.sent, c.delivered, c.achieved, c.p50, c.p99, c.reason)
		if got != want {
			t.Errorf("%s → %s:\n got %s\nwant %s", c.row, c.col, got, want)
		}
		lo, hi := Wilson(c.successes, c.runs, Z95)
		if cell.RateLow != lo || cell.RateHigh != hi {
			t.Errorf("%s → %s: interval [%v, %v], want [%v, %v]", c.row, c.col, cell.RateLow, cell.RateHigh, lo, hi)
		}
	}
	// A verdict the runner set is kept, as is its reason.
	if c := r.Cell(hostile, "none"); c.Verdict != Fail || c.Reason != hostile {
		t.Errorf("runner's verdict not kept: %s %q", c.Verdict, c.Reason)
	}
	// Summarize again after a trial is added: the figures follow.
	c := r.Cell("none", "none")
	c.Trials = append(c.Trials, trial(4, Fail, PathRelay, 0, 4, 2, "relay"))
	c.Verdict, c.Reason = "", ""
	c.Summarize()
	if c.Verdict != Fail || c.Runs != 4 || c.Successes != 3 || !strings.Contains(c.Reason, "2 of 16 messages lost") {
		t.Errorf("after a fourth trial: %s %d/%d %q", c.Verdict, c.Successes, c.Runs, c.Reason)
	}
}

func TestDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "–", 840 * time.Microsecond: "840µs", 23456 * time.Microsecond: "23ms",
		1237 * ms: "1.24s", 123 * time.Second: "2m3s",
	} {
		if got := dur(d); got != want {
			t.Errorf("dur(%v) = %q, want %q", d, got, want)
		}
	}
}
