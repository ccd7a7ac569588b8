package htmlreport

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/p2plab/p2plab/sim"
)

//go:embed page.html.tmpl
var files embed.FS

var page = template.Must(template.New("page.html.tmpl").Funcs(template.FuncMap{
	"dur": func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"f":   func(v float64) string { return fmt.Sprintf("%.1f", v) },
}).ParseFS(files, "page.html.tmpl"))

// Geometry of a timeline, in SVG user units.
const (
	labelW = 110.0 // lane names
	plotW  = 900.0 // the time axis
	stepsH = 46.0  // the row of steps and expectations above the lanes
	laneH  = 54.0
	axisH  = 24.0
)

// view is a scenario laid out for the template.
type view struct {
	*Scenario
	Anchor  string
	Verdict string
	W, H    float64
	LanesY  []laneView
	Bands   []bandView
	Bars    []barView
	Arrows  []arrowView
	Marks   []markView
	Ticks   []tickView
	Links   []linkView
	FailX   float64
	HasFail bool
	// MoreError is the scenario's error when it says more than the
	// failing step's (a lab that did not come up, a cleanup failure).
	MoreError string
	Duration  time.Duration
}

type laneView struct {
	Host      string
	Y, Mid, H float64
	Odd       bool
}

type bandView struct {
	Fault
	X, Y, W, H float64
}

type barView struct {
	Channel
	X, Y, W, Y1, Y2 float64
	Closed          bool
}

type arrowView struct {
	Message
	X1, Y1, X2, Y2 float64
}

type markView struct {
	Step
	X, Y         float64
	Passed       bool
	DX1, DX2     float64 // the deadline bracket, when the step has a within
	HasDeadline  bool
	DeadlineFrom time.Time
	Within       time.Duration // the deadline, from the last action step
}

type tickView struct {
	X     float64
	Label string
}

type linkView struct{ Href, Name string }

// Write renders the page for results into path. Each result's evidence is
// read from its artifacts folder; what cannot be read is said on the page,
// and the page is still written.
func Write(path string, title string, results []*sim.Result) error {
	dir := filepath.Dir(path)
	var views []*view
	for _, r := range results {
		s, err := Load(r)
		if err != nil {
			s.Warnings = append(s.Warnings, err.Error())
		}
		views = append(views, layout(s, dir))
	}
	var b bytes.Buffer
	err := page.Execute(&b, struct {
		Title     string
		Generated time.Time
		Scenarios []*view
		Passed    int
	}{title, time.Now().UTC(), views, passed(results)})
	if err != nil {
		return fmt.Errorf("htmlreport: %w", err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("htmlreport: %w", err)
	}
	return nil
}

// verdict is PASS, FAIL or INTERRUPTED (docs/scenarios.md "Verdicts").
func verdict(r *sim.Result) string {
	switch {
	case r.Verdict != "":
		return strings.ToUpper(r.Verdict)
	case r.Passed:
		return "PASS"
	}
	return "FAIL"
}

func passed(rs []*sim.Result) int {
	n := 0
	for _, r := range rs {
		if r.Passed {
			n++
		}
	}
	return n
}

func layout(s *Scenario, pageDir string) *view {
	v := &view{Scenario: s, Anchor: "s-" + s.Result.ID, Verdict: verdict(s.Result), Duration: s.Result.Duration}
	if e := s.Result.Error; e != "" && (s.Failure == nil || !strings.Contains(e, s.Failure.Error)) {
		v.MoreError = e
	}
	span := s.End.Sub(s.Start)
	if span <= 0 {
		span = time.Millisecond
	}
	x := func(t time.Time) float64 {
		if t.IsZero() {
			t = s.End
		}
		return labelW + float64(t.Sub(s.Start))/float64(span)*plotW
	}
	laneIdx := map[string]int{}
	for i, h := range s.Lanes {
		laneIdx[h] = i
		y := stepsH + float64(i)*laneH
		v.LanesY = append(v.LanesY, laneView{Host: h, Y: y, Mid: y + laneH/2, H: laneH, Odd: i%2 == 1})
	}
	mid := func(h string) float64 {
		if i, ok := laneIdx[h]; ok {
			return v.LanesY[i].Mid
		}
		return stepsH
	}
	lanesH := float64(len(s.Lanes)) * laneH
	v.W, v.H = labelW+plotW+20, stepsH+lanesH+axisH
	for _, f := range s.Faults {
		b := bandView{Fault: f, X: x(f.From), W: x(f.To) - x(f.From), Y: stepsH, H: lanesH}
		if i, ok := laneIdx[f.Host]; ok {
			b.Y, b.H = v.LanesY[i].Y+2, laneH-4
		}
		if b.W < 2 {
			b.W = 2
		}
		v.Bands = append(v.Bands, b)
	}
	for _, c := range s.Channels {
		b := barView{Channel: c, X: x(c.Open), W: x(c.Close) - x(c.Open), Closed: !c.Close.IsZero()}
		b.Y = mid(c.A) - 16
		b.Y1, b.Y2 = mid(c.A), mid(c.B)
		if b.W < 2 {
			b.W = 2
		}
		v.Bars = append(v.Bars, b)
	}
	for _, m := range s.Messages {
		v.Arrows = append(v.Arrows, arrowView{Message: m, X1: x(m.Sent), Y1: mid(m.From), X2: x(m.Got), Y2: mid(m.To)})
	}
	var lastAction time.Time
	for _, st := range s.Steps {
		if !st.Expect {
			lastAction = st.Start
		}
		m := markView{Step: st, X: x(st.End), Y: stepsH / 2, Passed: st.Passed}
		if !st.Deadline.IsZero() && !lastAction.IsZero() {
			m.HasDeadline, m.DeadlineFrom, m.Within = true, lastAction, st.Deadline.Sub(lastAction)
			m.DX1, m.DX2 = x(lastAction), min(x(st.Deadline), labelW+plotW)
		}
		v.Marks = append(v.Marks, m)
		if !st.Passed && !v.HasFail {
			v.HasFail, v.FailX = true, m.X
		}
	}
	for i := 0; i <= 5; i++ {
		t := s.Start.Add(span * time.Duration(i) / 5)
		v.Ticks = append(v.Ticks, tickView{X: x(t), Label: t.Sub(s.Start).Round(time.Millisecond).String()})
	}
	for _, p := range s.Artifacts {
		href := p
		if rel, err := filepath.Rel(pageDir, p); err == nil {
			href = filepath.ToSlash(rel)
		}
		name := p
		if rel, err := filepath.Rel(s.Result.Artifacts, p); err == nil {
			name = filepath.ToSlash(rel)
		}
		v.Links = append(v.Links, linkView{Href: href, Name: name})
	}
	return v
}
