package matrixreport

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// The file names WriteFiles uses in its directory.
const (
	FileJSON     = "matrix.json"
	FileJUnit    = "matrix-junit.xml"
	FileMarkdown = "matrix.md"
	FileHTML     = "matrix.html"
)

// WriteFiles writes the four reports into dir (made if missing) under the
// File* names, and returns their paths. Artifact paths in r are relative
// to dir. It does not call Summarize.
func (r *Report) WriteFiles(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("matrix reports: %w", err)
	}
	var paths []string
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{FileJSON, func(b *bytes.Buffer) error { return r.WriteJSON(b) }},
		{FileMarkdown, func(b *bytes.Buffer) error { return r.WriteMarkdown(b) }},
		{FileHTML, func(b *bytes.Buffer) error { return r.WriteHTML(b) }},
	} {
		var b bytes.Buffer
		if err := f.write(&b); err != nil {
			return paths, err
		}
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			return paths, fmt.Errorf("matrix reports: %w", err)
		}
		paths = append(paths, p)
	}
	p := filepath.Join(dir, FileJUnit)
	if err := r.WriteJUnit(p); err != nil {
		return paths, err
	}
	return append(paths, p), nil
}
