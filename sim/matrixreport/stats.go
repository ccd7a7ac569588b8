package matrixreport

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Z95 is the standard normal quantile of a two-sided 95% interval.
const Z95 = 1.959963984540054

// Wilson returns the Wilson score interval of successes out of n trials
// at the normal quantile z (Z95 for 95%). With no trials it is [0, 1]: no
// information. Unlike the normal approximation it stays inside [0, 1] and
// is not empty at 0 or n successes, which is what a matrix with 10
// trials per pair mostly shows.
func Wilson(successes, n int, z float64) (low, high float64) {
	if n <= 0 {
		return 0, 1
	}
	if successes < 0 {
		successes = 0
	}
	if successes > n {
		successes = n
	}
	nf := float64(n)
	p := float64(successes) / nf
	z2 := z * z
	den := 1 + z2/nf
	centre := (p + z2/(2*nf)) / den
	half := z / den * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	low, high = centre-half, centre+half
	// The bounds are exact at the ends; keep rounding from leaving [0, 1].
	if successes == 0 {
		low = 0
	}
	if successes == n {
		high = 1
	}
	return math.Max(0, low), math.Min(1, high)
}

// Percentile returns the p-th percentile (0 < p <= 100) of samples by the
// nearest-rank method: the smallest sample with at least p% of the
// samples at or below it, so it is always one of the samples (p99 of ten
// samples is the largest). It is zero with no samples. samples is not
// changed.
func Percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = max(1, min(rank, len(s)))
	return s[rank-1]
}

// worse reports whether verdict a is worse than b (Verdicts order; an
// unknown verdict is the worst).
func worse(a, b Verdict) bool {
	ia, ib := slices.Index(Verdicts, a), slices.Index(Verdicts, b)
	return ia < ib
}

// Summarize fills every cell's derived fields from its trials (see Cell),
// and its Verdict and Reason when they are empty. It may be called again
// after trials are added.
func (r *Report) Summarize() {
	for _, c := range r.Cells {
		c.Summarize()
	}
}

// Summarize fills c's derived fields from its trials, and its Verdict and
// Reason when they are empty: the worst trial verdict (a cell without
// trials is Error), and a count of the trials that did not pass.
func (c *Cell) Summarize() {
	c.Achieved = map[Path]int{}
	c.Successes, c.Runs, c.Sent, c.Delivered = 0, len(c.Trials), 0, 0
	c.DirectSamples = nil
	for _, t := range c.Trials {
		if t.Path != "" {
			c.Achieved[t.Path]++
		}
		if t.Verdict == Pass {
			c.Successes++
		}
		if t.TimeToDirect > 0 {
			c.DirectSamples = append(c.DirectSamples, t.TimeToDirect)
		}
		c.Sent += t.Sent
		c.Delivered += t.Delivered
	}
	c.Rate = 0
	if c.Runs > 0 {
		c.Rate = float64(c.Successes) / float64(c.Runs)
	}
	c.RateLow, c.RateHigh = Wilson(c.Successes, c.Runs, Z95)
	c.P50 = Percentile(c.DirectSamples, 50)
	c.P99 = Percentile(c.DirectSamples, 99)
	if c.Verdict == "" {
		c.Verdict = c.worstVerdict()
	}
	if c.Reason == "" {
		c.Reason = c.defaultReason()
	}
}

func (c *Cell) worstVerdict() Verdict {
	if len(c.Trials) == 0 {
		return Error
	}
	v := Pass
	for _, t := range c.Trials {
		if worse(t.Verdict, v) {
			v = t.Verdict
		}
	}
	return v
}

func (c *Cell) defaultReason() string {
	if len(c.Trials) == 0 {
		return "no trials were run"
	}
	var parts []string
	for _, v := range Verdicts {
		n := 0
		for _, t := range c.Trials {
			if t.Verdict == v {
				n++
			}
		}
		if n > 0 && v != Pass {
			parts = append(parts, fmt.Sprintf("%d of %d trials %s", n, len(c.Trials), v))
		}
	}
	if lost := c.Sent - c.Delivered; lost > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d messages lost", lost, c.Sent))
	}
	if len(parts) == 0 {
		if len(c.Trials) == 1 {
			return "the trial passed"
		}
		return fmt.Sprintf("all %d trials passed", len(c.Trials))
	}
	return strings.Join(parts, "; ")
}
