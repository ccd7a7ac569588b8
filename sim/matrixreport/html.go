package matrixreport

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
)

//go:embed page.html.tmpl
var files embed.FS

var pageTmpl = template.Must(template.New("page.html.tmpl").Funcs(template.FuncMap{
	"dur":    dur,
	"offset": offset,
	"inc":    func(i int) int { return i + 1 },
	"plural": plural,
}).ParseFS(files, "page.html.tmpl"))

// htmlView is the report laid out for the page.
type htmlView struct {
	*Report
	N     map[string]int // cells per verdict
	Kinds []Kind
	Rows  []gridRow
	Pairs []pairView
}

type gridRow struct {
	Kind  Kind
	Cells []gridCell
}

// gridCell is one cell of the grid; Cell is nil for a pair not run.
type gridCell struct {
	Cell     *Cell
	Row, Col string
	ID       string
	Achieved []pathCount
	Expected string
	Rate     string
	Success  string
}

type pairView struct {
	Cell         *Cell
	ID           string
	Expected     string
	AchievedText string
	Success      string
	Rate         string
	Lost         string
	Trials       []trialView
}

type trialView struct {
	*Trial
	Winner       string
	RecoveryText string
	Open         bool // shown unfolded: it did not pass
}

// WriteHTML writes r as one self-contained HTML page (inline style and
// script, no external resource): the run's figures, the grid coloured by
// verdict with rows connecting to columns, and per pair a section, shown
// when its cell is clicked, with its figures and its trials (attempts,
// timeline, links to the artifacts, relative to the page). Every string
// from the run is escaped by html/template, links with a scheme that
// could run script included.
func (r *Report) WriteHTML(w io.Writer) error {
	v := htmlView{Report: r, N: map[string]int{}, Kinds: r.kinds()}
	counts := r.Counts()
	for _, vd := range Verdicts {
		v.N[string(vd)] = counts[vd]
	}
	ids := r.anchors()
	for _, row := range v.Kinds {
		gr := gridRow{Kind: row}
		for _, col := range v.Kinds {
			gc := gridCell{Row: row.Name, Col: col.Name}
			if c := r.Cell(row.Name, col.Name); c != nil {
				gc.Cell, gc.ID, gc.Achieved, gc.Expected, gc.Rate, gc.Success = c, ids[c], c.achieved(), expectedText(c.Expected), c.rateText(), c.successText()
			}
			gr.Cells = append(gr.Cells, gc)
		}
		v.Rows = append(v.Rows, gr)
	}
	for _, c := range r.ordered() {
		pv := pairView{Cell: c, ID: ids[c], Expected: expectedText(c.Expected), AchievedText: c.achievedText(),
			Success: c.successText(), Rate: c.rateText(), Lost: lost(c.Sent, c.Delivered)}
		for _, t := range c.Trials {
			pv.Trials = append(pv.Trials, trialView{Trial: t, Winner: t.winnerText(), RecoveryText: t.recoveryText(), Open: t.Verdict != Pass})
		}
		v.Pairs = append(v.Pairs, pv)
	}
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, v); err != nil {
		return fmt.Errorf("matrix html report: %w", err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("matrix html report: %w", err)
	}
	return nil
}
