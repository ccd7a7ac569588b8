package conform

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/p2plab/p2plab/internal/junit"
)

// WriteList prints the catalogue: ID, level, section and sentence.
func WriteList(w io.Writer, reqs []Requirement) {
	for _, r := range reqs {
		fmt.Fprintf(w, "%-34s %-6s §%-5s %s\n", r.ID, r.Level, r.Section, r.Sentence)
	}
}

// WriteLine prints one result line, as the run goes.
func WriteLine(w io.Writer, r Result) {
	mark := map[Verdict]string{Pass: "PASS", Fail: "FAIL", Skip: "SKIP", Error: "ERR ", Unsupported: "UNSP"}[r.Verdict]
	fmt.Fprintf(w, "%s  %-6s %-40s (%v)\n", mark, r.Level, r.ID, r.Duration)
}

// WriteReport prints the failures (expected vs actual), the skips and errors
// with their reasons, and a summary line.
func WriteReport(w io.Writer, results []Result, strict bool) {
	var bad []Result
	for _, r := range results {
		if r.Verdict != Pass {
			bad = append(bad, r)
		}
	}
	if len(bad) > 0 {
		fmt.Fprintln(w)
	}
	for _, r := range bad {
		fmt.Fprintf(w, "%s %s [%s, %s]\n", strings.ToUpper(string(r.Verdict)), r.ID, r.Level, r.Doc)
		fmt.Fprintf(w, "    requirement: %s\n", r.Sentence)
		if r.Verdict == Fail {
			fmt.Fprintf(w, "    expected:    %s\n", r.Expected)
			fmt.Fprintf(w, "    actual:      %s\n", r.Actual)
		} else {
			fmt.Fprintf(w, "    reason:      %s\n", r.Message)
		}
	}
	s := Summarize(results)
	unsup := ""
	if s.Unsupported > 0 {
		unsup = fmt.Sprintf(", %d unsupported", s.Unsupported)
	}
	fmt.Fprintf(w, "\n%d checks: %d passed, %d failed, %d skipped, %d errors%s (MUST failed: %d, SHOULD failed: %d) - %s\n",
		s.Total, s.Passed, s.Failed, s.Skipped, s.Errors, unsup, s.MustFailed, s.ShouldFailed, VerdictText(results, strict))
}

// VerdictText is the run's verdict in words, after the exit status
// (Summary.ExitCode): it never says CONFORMS unless every MUST
// requirement was checked and passed.
func VerdictText(results []Result, strict bool) string {
	s := Summarize(results)
	switch s.ExitCode(strict) {
	case ExitFailed:
		return "DOES NOT CONFORM"
	case ExitSkipped:
		var ids []string
		for _, r := range results {
			if r.Verdict == Skip && r.Level == Must {
				ids = append(ids, r.ID)
			}
		}
		return fmt.Sprintf("NOT FULLY CHECKED: no MUST failed, but %d MUST requirements were not checked (SKIP above): %s", len(ids), strings.Join(ids, ", "))
	case ExitUnsupported:
		fs := unsupportedFeatures(results)
		if i := slices.Index(fs, FeatureAny); i >= 0 {
			fs = append(slices.Delete(fs, i, i+1), "any (a version 1 program)")
		}
		return "conforms to protocol v1; v1.1 features not advertised: " + strings.Join(fs, ", ")
	}
	return "CONFORMS"
}

// unsupportedFeatures lists, once each and in order, the features of the
// unsupported results.
func unsupportedFeatures(results []Result) []string {
	var out []string
	for _, r := range results {
		if r.Verdict == Unsupported && r.Feature != "" && !slices.Contains(out, r.Feature) {
			out = append(out, r.Feature)
		}
	}
	return out
}

// Report is the JSON report.
type Report struct {
	Role    Role      `json:"role"`
	Target  string    `json:"target"`
	Strict  bool      `json:"strict"`
	Started time.Time `json:"started"`
	Summary Summary   `json:"summary"`
	// Conforms is Summary.Conforms(Strict).
	Conforms bool `json:"conforms"`
	// ExitCode is Summary.ExitCode(Strict) and Verdict its VerdictText.
	ExitCode int    `json:"exitCode"`
	Verdict  string `json:"verdict"`
	// Unsupported lists the v1.1 features the target does not advertise.
	Unsupported []string `json:"unsupportedFeatures,omitempty"`
	Results     []Result `json:"results"`
}

// fill computes the report's summary and verdict from its results.
func (rep *Report) fill() {
	rep.Summary = Summarize(rep.Results)
	rep.Conforms = rep.Summary.Conforms(rep.Strict)
	rep.ExitCode, rep.Verdict = rep.Summary.ExitCode(rep.Strict), VerdictText(rep.Results, rep.Strict)
	rep.Unsupported = unsupportedFeatures(rep.Results)
}

// WriteJSON writes the JSON report to path.
func WriteJSON(path string, rep Report) error {
	rep.fill()
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("conform: json report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("conform: json report: %w", err)
	}
	return nil
}

// WriteJUnit writes a JUnit XML report to path. A failed SHOULD
// requirement is a JUnit failure only when strict; otherwise it is reported
// as skipped with its expected/actual text, so CI stays green on SHOULDs.
// Skipped and unsupported requirements are <skipped> with their reason
// (type skip or unsupported); the testsuites name carries the verdict
// (VerdictText).
func WriteJUnit(path string, rep Report) error {
	doc := junit.Report{Name: "p2plab conform " + string(rep.Role) + ": " + VerdictText(rep.Results, rep.Strict)}
	s := doc.Suite("p2plab-conform-"+string(rep.Role), rep.Started)
	for _, r := range rep.Results {
		c := junit.Case{Name: r.ID, Classname: "conform." + string(rep.Role)}
		text := fmt.Sprintf("[%s %s] %s\nexpected: %s\nactual: %s\n%s", r.Level, r.Doc, r.Sentence, r.Expected, r.Actual, r.Message)
		counts := r.Level == Must || rep.Strict
		switch {
		case r.Verdict == Fail && counts:
			c.Failure = &junit.Message{Message: "expected " + r.Expected, Text: text}
		case r.Verdict == Error && counts:
			c.Error = &junit.Message{Message: r.Message, Text: text}
		case r.Verdict != Pass:
			c.Skipped = &junit.Message{Message: string(r.Verdict) + ": " + r.Message + r.Expected, Type: string(r.Verdict), Text: text}
		}
		doc.Add(s, c, r.Duration)
	}
	if err := doc.Write(path); err != nil {
		return fmt.Errorf("conform: %w", err)
	}
	return nil
}

// WriteMarkdown prints the catalogue as a Markdown table (ID, level,
// section, requirement, acceptable outcomes), as in docs/conformance.md.
func WriteMarkdown(w io.Writer, reqs []Requirement) {
	fmt.Fprintln(w, "| ID | level | section | requirement | passes when |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	for _, r := range reqs {
		sec := "§" + r.Section
		if r.Section == "api" {
			sec = "control API"
		}
		fmt.Fprintf(w, "| `%s` | %s | %s | %s | %s |\n", r.ID, r.Level, sec, esc(r.Sentence), esc(strings.Join(r.Outcomes, "; or ")))
	}
}
