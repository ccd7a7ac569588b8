package matrixreport

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/internal/junit"
)

// fixtures are the reports every writer must handle.
func fixtures() map[string]*Report {
	empty := &Report{}
	lone := &Report{Cells: []*Cell{{Row: "a", Col: "b"}}} // no kinds, no trials, nothing set
	lone.Summarize()
	odd := &Report{Kinds: []Kind{{Name: "x"}}, Cells: []*Cell{{Row: "x", Col: "x", Verdict: "weird", Trials: []*Trial{{Index: 1}}}}}
	odd.Summarize()
	return map[string]*Report{"full": fixture(), "empty": empty, "lone cell": lone, "unknown verdict": odd}
}

// write runs every writer on r.
func write(t *testing.T, r *Report) (js, md, html []byte, ju *junit.Report) {
	t.Helper()
	var j, m, h bytes.Buffer
	if err := r.WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteMarkdown(&m); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(&h); err != nil {
		t.Fatal(err)
	}
	return j.Bytes(), m.Bytes(), h.Bytes(), r.JUnit()
}

func TestWritersOnEveryFixture(t *testing.T) {
	for name, r := range fixtures() {
		t.Run(name, func(t *testing.T) {
			js, md, html, ju := write(t, r)
			back, err := ReadJSON(bytes.NewReader(js))
			if err != nil {
				t.Fatalf("json does not read back: %v", err)
			}
			if len(back.Cells) != len(r.Cells) {
				t.Errorf("json: %d cells, want %d", len(back.Cells), len(r.Cells))
			}
			if ju.Tests != len(r.Cells) {
				t.Errorf("junit: %d testcases, want one per pair (%d)", ju.Tests, len(r.Cells))
			}
			k := len(r.kinds())
			if run, notRun := strings.Count(string(html), `" data-pair="`), strings.Count(string(html), `<td class="cell v-notrun"`); run != len(r.Cells) || notRun != k*k-len(r.Cells) {
				t.Errorf("html: %d run cells and %d not run, want %d and %d", run, notRun, len(r.Cells), k*k-len(r.Cells))
			}
			if got := strings.Count(string(html), `<section class="pair"`); got != len(r.Cells) {
				t.Errorf("html: %d pair sections, want %d", got, len(r.Cells))
			}
			n := r.Counts()
			if want := fmt.Sprintf("%d pairs: <b>%d</b> pass, <b>%d</b> fail, <b>%d</b> unsupported, <b>%d</b> error.", len(r.Cells), n[Pass], n[Fail], n[Unsupported], n[Error]); !strings.Contains(string(html), want) {
				t.Errorf("html: no summary %q", want)
			}
			if got := strings.Count(string(md), "\n### "); got != len(r.Cells) {
				t.Errorf("markdown: %d pair headings, want %d", got, len(r.Cells))
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := fixture()
	js, _, _, _ := write(t, r)
	back, err := ReadJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	want := *r
	want.Schema, want.Cells = Schema, r.ordered()
	if !reflect.DeepEqual(back, &want) {
		t.Errorf("read back differs:\n%+v\nwant\n%+v", back, &want)
	}
	var again bytes.Buffer
	if err := back.WriteJSON(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), js) {
		t.Error("writing what was read gives other bytes: the format is not stable")
	}
}

func TestJSONShape(t *testing.T) {
	js, _, _, _ := write(t, fixture())
	var doc struct {
		Schema string                       `json:"schema"`
		Meta   map[string]any               `json:"meta"`
		Cells  []map[string]json.RawMessage `json:"cells"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Schema != Schema {
		t.Errorf("schema %q", doc.Schema)
	}
	if doc.Meta["wall_ns"] != float64(83*time.Second) || doc.Meta["started"] != "2026-12-02T05:00:00Z" {
		t.Errorf("meta: wall_ns %v started %v, want nanoseconds and RFC 3339", doc.Meta["wall_ns"], doc.Meta["started"])
	}
	// Cells in grid order; a cell without trials has [] and {}, not null.
	var order []string
	for _, c := range doc.Cells {
		var row, col string
		_ = json.Unmarshal(c["row"], &row)
		_ = json.Unmarshal(c["col"], &col)
		order = append(order, row+">"+col)
		if row == "symmetric" && col == "none" {
			for k, want := range map[string]string{"trials": "[]", "expected": `["direct"]`, "time_to_direct_samples_ns": "[]"} {
				var b bytes.Buffer
				if err := json.Compact(&b, c[k]); err != nil || b.String() != want {
					t.Errorf("%s: %s, want %s", k, c[k], want)
				}
			}
			if string(c["achieved"]) != "{}" {
				t.Errorf("achieved: %s, want {}", c["achieved"])
			}
		}
	}
	want := []string{"none>none", "none>symmetric", "full-cone>full-cone", "full-cone>symmetric", "symmetric>none", "symmetric>symmetric", longKind + ">" + longKind, hostile + ">none"}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Errorf("cell order %v, want %v", order, want)
	}
}

func TestReadJSONRefusesOtherSchemas(t *testing.T) {
	for _, doc := range []string{`{"schema":"p2plab-matrix/0","cells":[]}`, `{}`, `[]`, `not json`} {
		_, err := ReadJSON(strings.NewReader(doc))
		if err == nil {
			t.Errorf("%s: read without error", doc)
		}
		if strings.HasPrefix(doc, "{") && !errors.Is(err, ErrSchema) {
			t.Errorf("%s: %v, want ErrSchema", doc, err)
		}
	}
}

// TestJSONFieldsDocumented keeps docs/matrix.md's list of JSON fields
// complete: every field name the writer can emit must be in it.
func TestJSONFieldsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "matrix.md"))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(doc, []byte("## Reading the reports"))
	if i < 0 {
		t.Fatal(`docs/matrix.md has no "Reading the reports" section`)
	}
	section := string(doc[i:])
	if j := strings.Index(section[3:], "\n## "); j >= 0 {
		section = section[:j+3]
	}
	for _, f := range jsonFields(reflect.TypeFor[Report]()) {
		if !strings.Contains(section, "`"+f+"`") {
			t.Errorf("JSON field %q is not in docs/matrix.md, Reading the reports", f)
		}
	}
}

// jsonFields lists the JSON names of t's fields and of the structs they
// hold, depth first.
func jsonFields(t reflect.Type) []string {
	var out []string
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] || t == reflect.TypeFor[time.Time]() {
			return
		}
		seen[t] = true
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			out = append(out, name)
			walk(f.Type)
		}
	}
	walk(t)
	return out
}

func TestJUnit(t *testing.T) {
	r := fixture()
	dir := t.TempDir()
	p := filepath.Join(dir, FileJUnit)
	if err := r.WriteJUnit(p); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var doc junit.Report
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("not well-formed XML: %v", err)
	}
	if doc.Tests != 8 || doc.Failures != 2 || doc.Errors != 2 || doc.Skipped != 1 || len(doc.Suites) != 1 {
		t.Fatalf("tests %d failures %d errors %d skipped %d suites %d, want 8 2 2 1 1", doc.Tests, doc.Failures, doc.Errors, doc.Skipped, len(doc.Suites))
	}
	cases := map[string]junit.Case{}
	for _, c := range doc.Suites[0].Cases {
		if _, dup := cases[c.Name]; dup {
			t.Errorf("two testcases named %q", c.Name)
		}
		cases[c.Name] = c
	}
	for _, c := range []struct {
		name, kind, msg string
	}{
		{"none → none", "", ""},
		{"full-cone → symmetric", "failure", "expected {udp-punch, tcp-punch}, achieved udp-punch ×2, relay ×1: 2 of 3 trials fail; 1 of 12 messages lost"},
		{"full-cone → full-cone", "skipped", "expected udp-punch, achieved relay ×1: the client does not advertise udp-punch"},
		{"symmetric → none", "error", "expected direct, achieved nothing: no trials were run"},
		{"none → symmetric", "error", "expected direct, achieved direct ×1, none ×1"},
	} {
		jc, ok := cases[c.name]
		if !ok {
			t.Errorf("no testcase %q", c.name)
			continue
		}
		var got *junit.Message
		kind := ""
		switch {
		case jc.Failure != nil:
			got, kind = jc.Failure, "failure"
		case jc.Error != nil:
			got, kind = jc.Error, "error"
		case jc.Skipped != nil:
			got, kind = jc.Skipped, "skipped"
		}
		if kind != c.kind || (got != nil && !strings.HasPrefix(got.Message, c.msg)) {
			t.Errorf("%s: %s %+v, want %s %q", c.name, kind, got, c.kind, c.msg)
		}
	}
	fail := cases["full-cone → symmetric"]
	if !strings.Contains(fail.Failure.Text, "trial 2: fail, path relay") || strings.Contains(fail.Failure.Text, "trial 1:") {
		t.Errorf("failure body %q, want the failed trials only", fail.Failure.Text)
	}
	if fail.Time != "6.000" {
		t.Errorf("time %s, want the trials' 6s", fail.Time)
	}
	// The hostile kind survives as text.
	if _, ok := cases[strings.ReplaceAll(hostile, "\x1b", "\uFFFD")+" → none"]; !ok {
		t.Errorf("the hostile pair's name did not survive XML escaping")
	}
}

// unescapedPipes counts the pipes of a Markdown table row that are not
// escaped by an odd run of backslashes.
func unescapedPipes(line string) int {
	n, bs := 0, 0
	for _, r := range line {
		switch {
		case r == '\\':
			bs++
			continue
		case r == '|' && bs%2 == 0:
			n++
		}
		bs = 0
	}
	return n
}

func TestMarkdown(t *testing.T) {
	r := fixture()
	_, md, _, _ := write(t, r)
	s := string(md)
	// The grid: a header, a rule and a row per kind, each with a cell
	// per kind and the row's name, whatever the kinds say.
	lines := strings.Split(s, "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "| from") {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatalf("no grid in\n%s", s)
	}
	kinds := len(r.kinds())
	for i := start; i < start+2+kinds; i++ {
		if got := unescapedPipes(lines[i]); got != kinds+2 {
			t.Errorf("grid line %d has %d cell borders, want %d: %s", i-start, got, kinds+2, lines[i])
		}
	}
	if !strings.HasPrefix(lines[start+2+kinds], "") || strings.HasPrefix(lines[start+2+kinds], "|") {
		t.Errorf("the grid has more rows than kinds: %s", lines[start+2+kinds])
	}
	for _, want := range []string{
		"| **full-cone** | not run | [➖ unsupported](#pair-full-cone--full-cone)<br>relay ×1 / udp-punch<br>0% [0%–79%]<br>p50 – | [❌ fail](#pair-full-cone--symmetric)<br>udp-punch ×2, relay ×1 / {udp-punch, tcp-punch}<br>33% [6%–79%]<br>p50 100ms |",
		"<a id=\"pair-full-cone--symmetric\"></a>\n\n### ❌ fail full-cone → symmetric\n",
		"| 2 | fail | relay | direct: timeout in 3s; udp-punch: timeout in 2s | – | – | 4/4 | relay where udp-punch was possible |",
		"| 1 | pass | udp-punch | direct: timeout in 3s; **udp-punch: ok in 90ms** | 100ms | udp-punch in 1.2s |",
		"| 3 | fail | udp-punch | **udp-punch: ok in 250ms** | 300ms | relay |",
		"Timeline of trial 3:\n\n- `+0.000s` clients started\n",
		"\n### ⚠️ error symmetric → none\n\n",
		"No trials.",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	// Passing trials have no timeline; the hostile strings are inert.
	if strings.Contains(s, "Timeline of trial 1:\n\n- `+0.000s` clients started\n- `+0.120s` a connects to b\n- `+0.040s`") {
		t.Error("a passing trial's timeline is in the markdown")
	}
	for _, e := range mdLeaks(s) {
		t.Error(e)
	}
	if !strings.Contains(s, "[log](a\"b'c<d>e%20f%28g%29.log)") && !strings.Contains(s, "(a\"b'c%3Cd%3Ee%20f%28g%29.log)") {
		t.Errorf("the artifact path is not made a safe link target")
	}
}

// mdLeaks returns the fixture's hostile markup found unescaped in s.
func mdLeaks(s string) []string {
	var bad []string
	if regexp.MustCompile(`(^|[^\\])\]\(javascript:`).MatchString(s) {
		bad = append(bad, "a javascript: link")
	}
	for _, m := range []string{"<script", "</td>", "\x1b", " *b*", " `tick`"} {
		// escaped, each of these has a backslash or an entity in it
		if strings.Contains(s, m) {
			bad = append(bad, fmt.Sprintf("%q unescaped", m))
		}
	}
	return bad
}

// htmlLeaks returns what makes s fetch something or run the fixture's
// hostile strings.
func htmlLeaks(s string) []string {
	var bad []string
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)<(link|img|iframe|object|embed)\b`),
		regexp.MustCompile(`(?i)\bsrc\s*=`),
		regexp.MustCompile(`(?i)href="(https?:)?//`),
		regexp.MustCompile(`(?i)@import|url\(`),
		regexp.MustCompile(`<script>alert`),
		regexp.MustCompile(`(?i)href="javascript:`),
	} {
		if m := re.FindString(s); m != "" {
			bad = append(bad, fmt.Sprintf("page has %q", m))
		}
	}
	if n := strings.Count(s, "<script"); n != 1 {
		bad = append(bad, fmt.Sprintf("%d script elements, want the page's own", n))
	}
	return bad
}

func TestHTMLSelfContainedAndEscaped(t *testing.T) {
	_, _, html, _ := write(t, fixture())
	for _, e := range htmlLeaks(string(html)) {
		t.Error(e)
	}
	if !strings.Contains(string(html), "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Error("the hostile kind is not shown escaped")
	}
}

// TestLeakChecksCatchNaiveOutput proves the escaping checks can fail: the
// hostile strings written as they are, in a table cell, a link and a
// page, are caught, and so is a page that loads a stylesheet.
func TestLeakChecksCatchNaiveOutput(t *testing.T) {
	naiveMD := "| " + hostile + " | [log](javascript:alert(1)) |\n"
	if got := mdLeaks(naiveMD); len(got) < 5 {
		t.Errorf("unescaped markdown passes with %v", got)
	}
	page := "<!DOCTYPE html><script>x</script><td>" + hostile + `</td><a href="javascript:alert(1)">a</a>`
	if got := htmlLeaks(page); len(got) < 3 {
		t.Errorf("unescaped html passes with %v", got)
	}
	if got := htmlLeaks(`<script></script><link rel="stylesheet" href="https://cdn.example/x.css">`); len(got) < 2 {
		t.Errorf("a page with an external stylesheet passes with %v", got)
	}
}

func TestWriteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	paths, err := fixture().WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 4 {
		t.Fatalf("paths %v", paths)
	}
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", p, err)
		}
	}
	// A directory that cannot be made is an error, not a panic.
	if _, err := fixture().WriteFiles(filepath.Join(paths[0], "sub")); err == nil {
		t.Error("WriteFiles under a file succeeded")
	}
}
