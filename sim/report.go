package sim

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
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

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	// Error is an interrupted scenario: no verdict on the programs.
	Error     *junitFailure `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes the results as JUnit XML: one testsuite per backend,
// one testcase per scenario (name "<id>: <requirement>", classname
// p2plab.<level>), the step log as system-out. A failed scenario has a
// <failure type="expectation">, an interrupted one an <error
// type="interrupted"> (counted in errors, not failures).
func WriteJUnit(path string, results []*Result) error {
	out := junitSuites{Name: "p2plab"}
	byBackend := map[string]int{}
	var total time.Duration
	for _, r := range results {
		i, ok := byBackend[r.Backend]
		if !ok {
			i = len(out.Suites)
			byBackend[r.Backend] = i
			out.Suites = append(out.Suites, junitSuite{Name: "p2plab scenarios (" + r.Backend + ")", Timestamp: r.Start.UTC().Format(time.RFC3339)})
		}
		s := &out.Suites[i]
		c := junitCase{Name: r.ID + ": " + r.Requirement, Classname: "p2plab." + r.Level, File: r.File, Time: secs(r.Duration)}
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
			c.Failure = &junitFailure{Message: msg, Type: "expectation", Text: r.Error}
			s.Failures++
			out.Failures++
		case VerdictInterrupted:
			c.Error = &junitFailure{Message: msg, Type: VerdictInterrupted, Text: r.Error}
			s.Errors++
			out.Errors++
		}
		s.Tests++
		out.Tests++
		s.Cases = append(s.Cases, c)
		total += r.Duration
	}
	for i := range out.Suites {
		var d time.Duration
		for _, r := range results {
			if "p2plab scenarios ("+r.Backend+")" == out.Suites[i].Name {
				d += r.Duration
			}
		}
		out.Suites[i].Time = secs(d)
	}
	out.Time = secs(total)
	b, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("sim: junit report: %w", err)
	}
	if err := os.WriteFile(path, append([]byte(xml.Header), append(b, '\n')...), 0o644); err != nil {
		return fmt.Errorf("sim: junit report: %w", err)
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
