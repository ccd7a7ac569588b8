package matrixreport

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteMarkdown writes r as Markdown: the run's figures, the grid (rows
// connect to columns; each cell the verdict, the paths achieved / expected,
// the success rate with its 95% interval and the p50 time to a direct
// channel), then per pair its figures and its trials, with the timelines
// of the trials that did not pass. Every string from the run is escaped,
// so a kind or a reason cannot break the table or inject HTML.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	m := r.Meta
	n := r.Counts()
	fmt.Fprintf(&b, "# NAT-pair matrix\n\n")
	fmt.Fprintf(&b, "%d pairs: %d pass, %d fail, %d unsupported, %d error.\n\n", len(r.Cells), n[Pass], n[Fail], n[Unsupported], n[Error])
	fmt.Fprintf(&b, "- started: %s, wall time %s", m.Started.UTC().Format(time.RFC3339), dur(m.Wall))
	if m.CPU > 0 {
		fmt.Fprintf(&b, ", CPU %s", dur(m.CPU))
	}
	fmt.Fprintf(&b, "\n- backend: %s; %d trials per pair; WAN delay %s per home link\n", md(m.Backend), m.TrialsPerPair, dur(m.WANDelay))
	fmt.Fprintf(&b, "- server: %s\n- client: %s\n", mdCmd(m.ServerCmd), mdCmd(m.ClientCmd))
	if m.Note != "" {
		fmt.Fprintf(&b, "- %s\n", md(m.Note))
	}
	b.WriteString("\nRows connect to columns. A cell: verdict, paths achieved / expected, success rate [95% Wilson interval], p50 time to a direct channel.\n\n")

	kinds := r.kinds()
	ids := r.anchors()
	b.WriteString("| from \\\\ to |")
	for _, k := range kinds {
		fmt.Fprintf(&b, " %s |", md(k.Name))
	}
	b.WriteString("\n|---|")
	for range kinds {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, row := range kinds {
		fmt.Fprintf(&b, "| **%s** |", md(row.Name))
		for _, col := range kinds {
			c := r.Cell(row.Name, col.Name)
			if c == nil {
				b.WriteString(" not run |")
				continue
			}
			fmt.Fprintf(&b, " [%s](#%s)<br>%s / %s<br>%s<br>p50 %s |", mdVerdict(c.Verdict), ids[c], md(c.achievedText()), md(expectedText(c.Expected)), c.rateText(), dur(c.P50))
		}
		b.WriteString("\n")
	}
	if descr := describedKinds(kinds); len(descr) > 0 {
		b.WriteString("\nKinds:\n\n")
		for _, k := range descr {
			fmt.Fprintf(&b, "- **%s**: %s\n", md(k.Name), md(k.Description))
		}
	}

	b.WriteString("\n## Pairs\n")
	for _, c := range r.ordered() {
		fmt.Fprintf(&b, "\n<a id=\"%s\"></a>\n\n### %s %s\n\n", ids[c], mdVerdict(c.Verdict), md(c.pairName()))
		fmt.Fprintf(&b, "- expected: %s", md(expectedText(c.Expected)))
		if c.Why != "" {
			fmt.Fprintf(&b, " (%s)", md(c.Why))
		}
		fmt.Fprintf(&b, "\n- achieved: %s\n- verdict: %s: %s\n", md(c.achievedText()), c.Verdict, md(c.Reason))
		fmt.Fprintf(&b, "- success: %s, rate %s\n- time to direct: p50 %s, p99 %s (%s)\n- messages: %d sent, %d delivered%s\n",
			c.successText(), c.rateText(), dur(c.P50), dur(c.P99), plural(len(c.DirectSamples), "sample"), c.Sent, c.Delivered, lost(c.Sent, c.Delivered))
		if len(c.Trials) == 0 {
			b.WriteString("\nNo trials.\n")
			continue
		}
		b.WriteString("\n| trial | verdict | path | attempts (winner in bold) | to direct | after the cut | sent/delivered | reason | artifacts |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, t := range c.Trials {
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %d/%d | %s | %s |\n", t.Index, t.Verdict, md(string(t.Path)), mdAttempts(t.Attempts), dur(t.TimeToDirect), md(t.recoveryText()), t.Sent, t.Delivered, md(t.Reason), mdLinks(t.Artifacts))
		}
		for _, t := range c.Trials {
			if t.Verdict == Pass || len(t.Timeline) == 0 {
				continue
			}
			fmt.Fprintf(&b, "\nTimeline of trial %d:\n\n", t.Index)
			for _, e := range t.Timeline {
				fmt.Fprintf(&b, "- `%s` %s\n", offset(e.At), md(e.Text))
			}
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("matrix markdown report: %w", err)
	}
	return nil
}

func describedKinds(ks []Kind) []Kind {
	var out []Kind
	for _, k := range ks {
		if k.Description != "" {
			out = append(out, k)
		}
	}
	return out
}

func mdVerdict(v Verdict) string {
	switch v {
	case Pass:
		return "✅ pass"
	case Fail:
		return "❌ fail"
	case Unsupported:
		return "➖ unsupported"
	case Error:
		return "⚠️ error"
	}
	return "⚠️ " + md(string(v))
}

func mdAttempts(as []Attempt) string {
	if len(as) == 0 {
		return "–"
	}
	s := make([]string, len(as))
	for i, a := range as {
		t := fmt.Sprintf("%s: %s in %s", md(string(a.Method)), md(a.Result), dur(a.Duration))
		if a.Won {
			t = "**" + t + "**"
		}
		s[i] = t
	}
	return strings.Join(s, "; ")
}

func mdLinks(as []Artifact) string {
	if len(as) == 0 {
		return "–"
	}
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = fmt.Sprintf("[%s](%s)", md(a.Name), mdURL(a.Path))
	}
	return strings.Join(s, ", ")
}

func mdCmd(s string) string {
	if s == "" {
		return "the reference programs"
	}
	return md(s)
}

// mdEscaper escapes what Markdown (GitHub's included) would read as
// markup or HTML in inline text and table cells.
var mdEscaper = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;", "|", "\\|", "\\", "\\\\",
	"`", "\\`", "*", "\\*", "_", "\\_", "[", "\\[", "]", "\\]", "#", "\\#",
	"~", "\\~", "!", "\\!",
)

// md escapes s for Markdown inline text; control characters (a
// terminal's escape sequences) become spaces.
func md(s string) string { return mdEscaper.Replace(oneLine(s)) }

// mdURL makes a link target that cannot end the link early or be read as
// a script: spaces and parentheses percent-encoded, and a target with a
// scheme other than http(s) (javascript:, data:) replaced by "#".
func mdURL(p string) string {
	if unsafeURL(p) {
		return "#"
	}
	return strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29", "<", "%3C", ">", "%3E", "\n", "", "\r", "").Replace(p)
}

// unsafeURL reports whether p has a scheme other than http or https: an
// artifact path is relative, so anything else is suspect.
func unsafeURL(p string) bool {
	i := strings.IndexAny(p, ":/?#")
	if i < 0 || p[i] != ':' {
		return false
	}
	s := strings.ToLower(strings.TrimSpace(p[:i]))
	return s != "http" && s != "https"
}

// slug is s reduced to [a-z0-9-] for anchors and ids.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}
