package matrixreport

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrSchema is wrapped by ReadJSON when a document is not of Schema.
var ErrSchema = errors.New("matrixreport: not a " + Schema + " document")

// WriteJSON writes r as indented JSON (field names in the struct tags,
// docs/matrix.md "Reading the reports"): Schema set, cells ordered by
// row then column, lists that are empty written as [] rather than null,
// durations in integer nanoseconds, times in RFC 3339.
func (r *Report) WriteJSON(w io.Writer) error {
	out := *r
	out.Schema = Schema
	out.Cells = r.ordered()
	out.normalize()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&out); err != nil {
		return fmt.Errorf("matrix json report: %w", err)
	}
	return nil
}

// ReadJSON reads a report written by WriteJSON.
func ReadJSON(rd io.Reader) (*Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("matrix json report: %w", err)
	}
	if r.Schema != Schema {
		return nil, fmt.Errorf("%w: schema %q", ErrSchema, r.Schema)
	}
	return &r, nil
}

// normalize replaces nil lists and maps with empty ones, in the report's
// own values (the cells are shared with the caller's).
func (r *Report) normalize() {
	r.Kinds = nonNil(r.Kinds)
	r.Cells = nonNil(r.Cells)
	r.Meta.KindNames = nonNil(r.Meta.KindNames)
	for _, c := range r.Cells {
		c.Expected = nonNil(c.Expected)
		c.Trials = nonNil(c.Trials)
		c.DirectSamples = nonNil(c.DirectSamples)
		if c.Achieved == nil {
			c.Achieved = map[Path]int{}
		}
		for _, t := range c.Trials {
			t.Attempts = nonNil(t.Attempts)
			t.Timeline = nonNil(t.Timeline)
			t.Artifacts = nonNil(t.Artifacts)
		}
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
