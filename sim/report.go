package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/p2plab/p2plab/internal/junit"
)

// WriteJSON writes the results as one JSON document.
func WriteJSON(path string, results []*Result) error {
	b, err := json.MarshalIndent(struct {
		Results []*Result `json:"results"`
	}{results}, "", "  ")
	if err != nil {
		return fmt.Errorf("sim: json report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("sim: json report: %w", err)
	}
	return nil
}

// WriteJUnit writes the results as JUnit XML (internal/junit): one
// testsuite per backend, one testcase per scenario (name
// "<id>: <requirement>", classname p2plab.<level>), the role programs as
// its properties (server.command, server.image, client.command,
// client.image, binary; empty ones left out), the step log as
// system-out. A failed scenario has a <failure type="expectation">, an
// interrupted one an <error type="interrupted"> (counted in errors, not
// failures).
func WriteJUnit(path string, results []*Result) error {
	rep := &junit.Report{Name: "p2plab"}
	for _, r := range results {
		s := rep.Suite("p2plab scenarios ("+r.Backend+")", r.Start)
		c := junit.Case{Name: r.ID + ": " + r.Requirement, Classname: "p2plab." + r.Level, File: r.File, Properties: r.Roles.properties()}
		var so strings.Builder
		for _, st := range r.Steps {
			status := "ok"
			switch {
			case st.Interrupted:
				status = "INTERRUPTED"
			case !st.Passed:
				status = "FAIL"
			}
			fmt.Fprintf(&so, "[%d] %s %s %s %s\n", st.Index, status, st.Text, st.Duration.Round(time.Millisecond), st.Note)
		}
		fmt.Fprintf(&so, "artifacts: %s\n", r.Artifacts)
		c.SystemOut = so.String()
		msg, _, _ := strings.Cut(r.Error, "\n")
		switch r.verdict() {
		case VerdictFail:
			c.Failure = &junit.Message{Message: msg, Type: "expectation", Text: r.Error}
		case VerdictInterrupted:
			c.Error = &junit.Message{Message: msg, Type: VerdictInterrupted, Text: r.Error}
		}
		rep.Add(s, c, r.Duration)
	}
	if err := rep.Write(path); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	return nil
}

// WriteSummary prints a table: one row per scenario (PASS, FAIL or
// INTERRUPTED), then the totals.
func WriteSummary(w io.Writer, results []*Result) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tID\tLEVEL\tBACKEND\tSTEPS\tTIME\tARTIFACTS")
	count := map[string]int{}
	for _, r := range results {
		v := r.verdict()
		count[v]++
		res := strings.ToUpper(v)
		ok := 0
		for _, s := range r.Steps {
			if s.Passed {
				ok++
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", res, r.ID, r.Level, r.Backend, ok, r.TotalSteps, r.Duration.Round(10*time.Millisecond), r.Artifacts)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d scenarios: %d passed, %d failed", len(results), count[VerdictPass], count[VerdictFail])
	if n := count[VerdictInterrupted]; n > 0 {
		fmt.Fprintf(w, ", %d interrupted", n)
	}
	fmt.Fprintln(w)
}

// properties are the roles as JUnit properties, empty values left out.
func (r Roles) properties() []junit.Property {
	var out []junit.Property
	for _, p := range []junit.Property{
		{Name: "server.command", Value: r.Server.Command}, {Name: "server.image", Value: r.Server.Image},
		{Name: "client.command", Value: r.Client.Command}, {Name: "client.image", Value: r.Client.Image},
		{Name: "binary", Value: r.Binary},
	} {
		if p.Value != "" {
			out = append(out, p)
		}
	}
	return out
}
