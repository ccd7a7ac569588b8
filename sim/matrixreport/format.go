package matrixreport

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// The words the reports use, one place so they say the same thing.

// kinds returns the kinds in display order: Report.Kinds, then any kind
// a cell names that is not among them, in the order first seen.
func (r *Report) kinds() []Kind {
	ks := slices.Clone(r.Kinds)
	seen := map[string]bool{}
	for _, k := range ks {
		seen[k.Name] = true
	}
	for _, c := range r.Cells {
		for _, n := range []string{c.Row, c.Col} {
			if !seen[n] {
				seen[n] = true
				ks = append(ks, Kind{Name: n})
			}
		}
	}
	return ks
}

// ordered returns the cells ordered by row then column in kinds order.
func (r *Report) ordered() []*Cell {
	idx := map[string]int{}
	for i, k := range r.kinds() {
		idx[k.Name] = i
	}
	cs := slices.Clone(r.Cells)
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if idx[a.Row] != idx[b.Row] {
			return idx[a.Row] < idx[b.Row]
		}
		return idx[a.Col] < idx[b.Col]
	})
	return cs
}

// Counts returns how many cells have each verdict.
func (r *Report) Counts() map[Verdict]int {
	n := map[Verdict]int{}
	for _, c := range r.Cells {
		n[c.Verdict]++
	}
	return n
}

// pairName is "row → col".
func (c *Cell) pairName() string { return c.Row + " → " + c.Col }

// expectedText is the oracle's set: "udp-punch", or "{tcp-punch,
// udp-punch}", or "(no expectation)" when the oracle gave nothing.
func expectedText(ps []Path) string {
	switch len(ps) {
	case 0:
		return "(no expectation)"
	case 1:
		return string(ps[0])
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return "{" + strings.Join(s, ", ") + "}"
}

// pathCount is one path achieved and in how many trials.
type pathCount struct {
	Path  Path
	N     int
	InSet bool // among the expected paths
}

// achieved lists c.Achieved, the most frequent first (ties in Paths
// order, unknown paths last by name).
func (c *Cell) achieved() []pathCount {
	var out []pathCount
	for p, n := range c.Achieved {
		out = append(out, pathCount{p, n, slices.Contains(c.Expected, p)})
	}
	rank := func(p Path) int {
		if i := slices.Index(Paths, p); i >= 0 {
			return i
		}
		return len(Paths)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.N != b.N {
			return a.N > b.N
		}
		if rank(a.Path) != rank(b.Path) {
			return rank(a.Path) < rank(b.Path)
		}
		return a.Path < b.Path
	})
	return out
}

// achievedText is "udp-punch ×9, relay ×1", or "nothing" with no trial
// that reached a path.
func (c *Cell) achievedText() string {
	a := c.achieved()
	if len(a) == 0 {
		return "nothing"
	}
	s := make([]string, len(a))
	for i, p := range a {
		s[i] = fmt.Sprintf("%s ×%d", p.Path, p.N)
	}
	return strings.Join(s, ", ")
}

// rateText is "90% [60–98%]", or "no trials".
func (c *Cell) rateText() string {
	if c.Runs == 0 {
		return "no trials"
	}
	return fmt.Sprintf("%s [%s–%s]", pct(c.Rate), pct(c.RateLow), pct(c.RateHigh))
}

// successText is "9/10".
func (c *Cell) successText() string { return fmt.Sprintf("%d/%d", c.Successes, c.Runs) }

func pct(f float64) string { return fmt.Sprintf("%.0f%%", f*100) }

// dur shows a duration at a precision a person reads: "840µs", "23ms",
// "1.24s", "2m3s"; "–" for zero (nothing measured).
func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// offset is a timeline offset: "+1.234s".
func offset(d time.Duration) string { return fmt.Sprintf("+%.3fs", d.Seconds()) }

// winnerText is the winning attempt's method, or "–".
func (t *Trial) winnerText() string {
	if w := t.Winner(); w != nil {
		return string(w.Method)
	}
	return "–"
}

// recoveryText is "udp-punch in 1.2s", "relay", or "–".
func (t *Trial) recoveryText() string {
	switch {
	case t.Recovery == "":
		return "–"
	case t.RecoveryTime > 0:
		return string(t.Recovery) + " in " + dur(t.RecoveryTime)
	}
	return string(t.Recovery)
}

// lost is "" or ", 2 lost".
func lost(sent, delivered int) string {
	if sent > delivered {
		return fmt.Sprintf(", %d lost", sent-delivered)
	}
	return ""
}

// anchors gives every cell an id for links within a page: "pair-" and
// the kinds reduced to [a-z0-9-_], made unique with a counter.
func (r *Report) anchors() map[*Cell]string {
	ids := map[*Cell]string{}
	used := map[string]bool{}
	for _, c := range r.ordered() {
		base := "pair-" + slug(c.Row) + "--" + slug(c.Col)
		id := base
		for i := 2; used[id]; i++ {
			id = fmt.Sprintf("%s-%d", base, i)
		}
		used[id] = true
		ids[c] = id
	}
	return ids
}

// plural is "1 sample", "3 samples".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
