package conform

import (
	"bytes"
	"fmt"
	"html/template"
	"os"
)

// The HTML report of a conformance run (docs/conformance.md, "Reports"):
// one self-contained page, styles inline, no script, no network.
var htmlPage = template.Must(template.New("conform").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>p2plab conform {{.Role}}: {{.Target}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
.pass { color: #1a7f37; font-weight: bold; } .fail { color: #cf222e; font-weight: bold; }
.skip { color: #57606a; font-weight: bold; } .error { color: #9a6700; font-weight: bold; }
tr.fail td, tr.error td { background: #fff0f0; }
.verdict { font-size: 1.2em; } pre { white-space: pre-wrap; margin: 0; }
</style>
</head>
<body>
<h1>p2plab conform {{.Role}}</h1>
<p>Target: <code>{{.Target}}</code>. Started {{.Started.Format "2006-01-02 15:04:05 MST"}}{{if .Strict}}, strict (SHOULD counts){{end}}.</p>
<p class="verdict {{if eq .ExitCode 0}}pass{{else if eq .ExitCode 1}}fail{{else}}skip{{end}}" id="verdict">{{.Verdict}}</p>
<p id="summary">{{.Summary.Total}} checks: {{.Summary.Passed}} passed, {{.Summary.Failed}} failed, {{.Summary.Skipped}} skipped, {{.Summary.Errors}} errors (MUST failed: {{.Summary.MustFailed}}, SHOULD failed: {{.Summary.ShouldFailed}}).</p>
<table id="checks">
<tr><th>verdict</th><th>requirement</th><th>level</th><th>section</th><th>sentence</th><th>expected / actual, or reason</th><th>time</th></tr>
{{range .Results}}<tr class="{{.Verdict}}" data-id="{{.ID}}"><td class="{{.Verdict}}">{{.Verdict}}</td><td>{{.ID}}</td><td>{{.Level}}</td><td>{{.Doc}} §{{.Section}}</td><td>{{.Sentence}}</td><td>{{if .Expected}}<pre>expected: {{.Expected}}
actual:   {{.Actual}}</pre>{{else}}{{.Message}}{{end}}</td><td>{{.Duration}}</td></tr>
{{end}}</table>
</body>
</html>
`))

// WriteHTML writes the report as one self-contained HTML page to path.
func WriteHTML(path string, rep Report) error {
	rep.fill()
	var b bytes.Buffer
	if err := htmlPage.Execute(&b, rep); err != nil {
		return fmt.Errorf("conform: html report: %w", err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("conform: html report: %w", err)
	}
	return nil
}
