package bench

import (
	"slices"
	"time"
)

// Dist summarises a sample of durations.
type Dist struct {
	N                  int
	Min, P50, P99, Max time.Duration
}

// Distribution returns the nearest-rank percentiles of ds (zero Dist for
// an empty sample). ds is not modified.
func Distribution(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return Dist{N: len(s), Min: s[0], P50: Percentile(s, 50), P99: Percentile(s, 99), Max: s[len(s)-1]}
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of a
// sorted sample.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// nearest rank: ceil(p/100 * n), 1-based
	r := int(p/100*float64(len(sorted)) + 0.999999999)
	r = min(max(r, 1), len(sorted))
	return sorted[r-1]
}

// Ms is d in milliseconds, for b.ReportMetric.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
