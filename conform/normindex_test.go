package conform_test

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/p2plab/p2plab/conform"
)

// The normative index (docs/conformance.md, "Normative index") maps every
// normative sentence of the protocol documents to the requirements that
// check it, or says why it cannot be checked from outside. This file keeps
// it in step with the documents; the rules are written down in
// docs/conformance.md, "Normative index".

var (
	normativeUpdate = flag.Bool("normative.update", false, "rewrite the normative index of docs/conformance.md: add missing sentences (unmapped), drop stale ones, keep the mappings")
	normativeStrict = flag.Bool("normative.strict", os.Getenv("P2PLAB_NORMATIVE_STRICT") != "", "fail on todo entries of the normative index too")
)

// normativeDocs are the documents whose normative sentences need an entry.
var normativeDocs = []string{"docs/protocol.md", "docs/control-api.md"}

const (
	normBegin = "<!-- normative:begin -->\n"
	normEnd   = "<!-- normative:end -->"
	// unmappedLine is what -normative.update writes for a new sentence: it
	// is neither a check nor a reason, so the test fails until a person
	// replaces it.
	unmappedLine = "- unmapped: name its checks or why it is not checkable"
)

// normSentence is one normative sentence: the document, the heading it is
// under, and its text with markup kept and white space collapsed.
type normSentence struct {
	Doc, Heading, Text string
}

func (s normSentence) key() string { return s.Doc + "\x00" + s.Heading + "\x00" + s.Text }

// normEntry is one entry of the index: a sentence and its mapping lines.
type normEntry struct {
	normSentence
	Checks       []string // requirement IDs
	NotCheckable string   // reason
	Todo         string   // a check that could be written but is not yet
	Lines        []string // the mapping lines as written
}

var (
	headingRe  = regexp.MustCompile(`^#{1,6}\s+(.*\S)\s*$`)
	listItemRe = regexp.MustCompile(`^\s*([-*+]|[0-9]+\.)\s+`)
	fenceRe    = regexp.MustCompile("^\\s*(```|~~~)")
	quotedRe   = regexp.MustCompile("`[^`]*`|\"[^\"]*\"")
	keywordRe  = regexp.MustCompile(`\b(MUST|SHOULD)\b`)
	backtickRe = regexp.MustCompile("`([^`]+)`")
)

// extractNormative returns the normative sentences of a Markdown document,
// in document order. A sentence is normative when it contains MUST or
// SHOULD (so also MUST NOT and SHOULD NOT) in capitals as a word, outside
// backticks and double quotes (a quoted "MUST" mentions the word, as the
// terminology paragraph of docs/protocol.md does). The text is cut into
// units first: a paragraph (its lines joined), a list item (with its
// continuation lines), or a table row; code blocks (fenced, or indented by
// four spaces and not in a list) and headings are no units. A unit is cut
// into sentences after '.', '!' or '?' followed by a space and a capital
// letter, a backtick, a quote, '*' or an opening parenthesis, except after
// "e.g." and "i.e." ("e.g. the" and "e.g. `x`" stay in one sentence).
func extractNormative(doc, text string) []normSentence {
	var out []normSentence
	heading := ""
	var unit []string
	flush := func() {
		if len(unit) == 0 {
			return
		}
		joined := strings.Join(strings.Fields(strings.Join(unit, " ")), " ")
		unit = nil
		for _, s := range splitSentences(joined) {
			if keywordRe.MatchString(quotedRe.ReplaceAllString(s, "")) {
				out = append(out, normSentence{Doc: doc, Heading: heading, Text: s})
			}
		}
	}
	inList, inFence, inCode, prevBlank := false, false, false, true
	for _, line := range strings.Split(text, "\n") {
		blank := strings.TrimSpace(line) == ""
		switch {
		case inFence:
			inFence = !fenceRe.MatchString(line)
		case fenceRe.MatchString(line):
			flush()
			inFence = true
		case blank:
			flush()
			inCode = false
		case inCode:
		case strings.HasPrefix(line, "    ") && prevBlank && !inList:
			inCode = true // an indented code block, up to the next blank line
		case headingRe.MatchString(line) && !strings.HasPrefix(line, " "):
			flush()
			heading = headingRe.FindStringSubmatch(line)[1]
			inList = false
		case strings.HasPrefix(strings.TrimSpace(line), "|"):
			// One table row is one unit (the separator row has no words).
			flush()
			row := strings.Trim(strings.TrimSpace(line), "|")
			unit = append(unit, strings.Join(strings.Split(row, "|"), " | "))
			flush()
		case listItemRe.MatchString(line):
			flush()
			inList = true
			unit = append(unit, listItemRe.ReplaceAllString(line, ""))
		default:
			if prevBlank && !strings.HasPrefix(line, " ") {
				inList = false // a paragraph after the list
			}
			unit = append(unit, line)
		}
		prevBlank = blank
	}
	flush()
	return out
}

// splitSentences cuts a unit into sentences (see extractNormative).
func splitSentences(s string) []string {
	var out []string
	start := 0
	for i := 0; i+2 < len(s); i++ {
		if (s[i] == '.' || s[i] == '!' || s[i] == '?') && s[i+1] == ' ' {
			if w := s[max(0, i-4) : i+1]; strings.HasSuffix(w, " e.g.") || strings.HasSuffix(w, " i.e.") || w == "e.g." || w == "i.e." {
				continue // "e.g. `x`" goes on
			}
			c := s[i+2]
			if (c >= 'A' && c <= 'Z') || c == '`' || c == '"' || c == '(' || c == '*' {
				out = append(out, strings.TrimSpace(s[start:i+1]))
				start = i + 2
			}
		}
	}
	if rest := strings.TrimSpace(s[start:]); rest != "" {
		out = append(out, rest)
	}
	return out
}

// parseIndex reads the entries of the index section (between the markers).
func parseIndex(section string) ([]normEntry, []string) {
	var entries []normEntry
	var problems []string
	doc, heading := "", ""
	for n, line := range strings.Split(section, "\n") {
		bad := func(msg string) { problems = append(problems, fmt.Sprintf("index line %d: %s: %q", n+1, msg, line)) }
		last := func() *normEntry {
			if len(entries) == 0 || entries[len(entries)-1].Doc != doc || entries[len(entries)-1].Heading != heading {
				return nil
			}
			return &entries[len(entries)-1]
		}
		switch {
		case strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, "#### "):
			var ok bool
			doc, heading, ok = strings.Cut(strings.TrimPrefix(line, "#### "), ": ")
			if !ok {
				bad("a heading must read '#### DOC: HEADING'")
			}
		case strings.HasPrefix(line, "> "):
			if doc == "" {
				bad("a sentence before the first heading")
			}
			entries = append(entries, normEntry{normSentence: normSentence{Doc: doc, Heading: heading, Text: strings.TrimPrefix(line, "> ")}})
		case strings.HasPrefix(line, "- "):
			e := last()
			if e == nil {
				bad("a mapping line before its sentence")
				continue
			}
			e.Lines = append(e.Lines, line)
			kind, val, _ := strings.Cut(strings.TrimPrefix(line, "- "), ": ")
			val = strings.TrimSpace(val)
			switch kind {
			case "checks":
				for _, m := range backtickRe.FindAllStringSubmatch(val, -1) {
					e.Checks = append(e.Checks, m[1])
				}
				if len(e.Checks) == 0 {
					bad("'checks:' names no `requirement/ID`")
				}
			case "not checkable":
				e.NotCheckable = val
			case "todo":
				e.Todo = val
			case "note":
			default:
				bad("a mapping line is '- checks: `ID`, ...', '- not checkable: REASON', '- todo: MISSING CHECK' or '- note: TEXT'")
			}
			if val == "" {
				bad("empty mapping line")
			}
		default:
			bad("not a heading, sentence or mapping line")
		}
	}
	return entries, problems
}

// checkIndex compares the index entries with the documents' sentences and
// the catalogue. It returns the problems that fail the test and the todo
// entries (which fail it only when strict).
func checkIndex(sents []normSentence, entries []normEntry, known map[string]bool, strict bool) (problems, todos []string) {
	want := map[string]bool{}
	for _, s := range sents {
		want[s.key()] = true
	}
	have := map[string]bool{}
	for _, e := range entries {
		where := fmt.Sprintf("%s, %s: %q", e.Doc, e.Heading, e.Text)
		if have[e.key()] {
			problems = append(problems, "duplicate entry: "+where)
		}
		have[e.key()] = true
		if !want[e.key()] {
			problems = append(problems, "stale entry (no such normative sentence under that heading any more): "+where)
		}
		for _, id := range e.Checks {
			if !known[id] {
				problems = append(problems, fmt.Sprintf("unknown requirement %s in the entry for %s", id, where))
			}
		}
		switch {
		case len(e.Checks) > 0 || e.NotCheckable != "":
		case e.Todo != "":
			todos = append(todos, where+": todo: "+e.Todo)
		default:
			problems = append(problems, "neither a check nor a reason: "+where)
		}
		if e.Todo != "" && (len(e.Checks) > 0 || e.NotCheckable != "") {
			todos = append(todos, where+": todo: "+e.Todo)
		}
	}
	for _, s := range sents {
		if !have[s.key()] {
			problems = append(problems, fmt.Sprintf("normative sentence without an entry: %s, %s: %q", s.Doc, s.Heading, s.Text))
		}
	}
	if strict {
		for _, t := range todos {
			problems = append(problems, "todo (strict): "+t)
		}
	}
	return problems, todos
}

// renderIndex lays the index out from the documents' sentences in document
// order, with the mapping lines of the existing entries (unmappedLine for a
// sentence that has none).
func renderIndex(sents []normSentence, entries []normEntry) string {
	lines := map[string][]string{}
	for _, e := range entries {
		lines[e.key()] = e.Lines
	}
	var b strings.Builder
	b.WriteString("\n")
	seen := map[string]bool{}
	doc, heading := "", ""
	for _, s := range sents {
		if seen[s.key()] {
			continue
		}
		seen[s.key()] = true
		if s.Doc != doc || s.Heading != heading {
			doc, heading = s.Doc, s.Heading
			fmt.Fprintf(&b, "#### %s: %s\n\n", doc, heading)
		}
		fmt.Fprintf(&b, "> %s\n\n", s.Text)
		l := lines[s.key()]
		if len(l) == 0 {
			l = []string{unmappedLine}
		}
		b.WriteString(strings.Join(l, "\n") + "\n\n")
	}
	return b.String()
}

// docsNormative extracts the sentences of every normative document.
func docsNormative(t *testing.T) []normSentence {
	t.Helper()
	var sents []normSentence
	for _, doc := range normativeDocs {
		b, err := os.ReadFile("../" + doc)
		if err != nil {
			t.Fatal(err)
		}
		sents = append(sents, extractNormative(doc, string(b))...)
	}
	return sents
}

// knownIDs is every requirement ID of the catalogue.
func knownIDs() map[string]bool {
	known := map[string]bool{}
	for _, role := range []conform.Role{conform.RoleServer, conform.RoleClient} {
		for _, r := range conform.Catalogue(role) {
			known[r.ID] = true
		}
	}
	return known
}

// Every normative sentence of docs/protocol.md and docs/control-api.md has
// an entry in the normative index of docs/conformance.md that names
// existing requirements or says why it is not checkable from outside; no
// entry is stale. Run with -args -normative.update to rewrite the layout
// (new sentences get an unmapped line to fill in), -v to see the todo
// entries, -args -normative.strict (or P2PLAB_NORMATIVE_STRICT=1) to fail
// on them.
func TestNormativeIndex(t *testing.T) {
	const path = "../docs/conformance.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	head, rest, ok1 := strings.Cut(doc, normBegin)
	section, tail, ok2 := strings.Cut(rest, normEnd)
	if !ok1 || !ok2 {
		t.Fatal("docs/conformance.md: normative index markers missing")
	}
	sents := docsNormative(t)
	if len(sents) == 0 {
		t.Fatal("no normative sentence found in the documents: the extractor is broken")
	}
	entries, problems := parseIndex(section)
	rendered := renderIndex(sents, entries)
	if *normativeUpdate {
		if err := os.WriteFile(path, []byte(head+normBegin+rendered+normEnd+tail), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the normative index of %s; fill in every %q line", path, unmappedLine)
		return
	}
	more, todos := checkIndex(sents, entries, knownIDs(), *normativeStrict)
	problems = append(problems, more...)
	sort.Strings(todos)
	for _, td := range todos {
		t.Log(td)
	}
	if len(problems) == 0 && rendered != section {
		problems = append(problems, "the index is not laid out as generated (order, headings, blank lines)")
	}
	if len(problems) > 0 {
		t.Errorf("docs/conformance.md normative index is out of step with the documents:\n  %s\n\n"+
			"Fix the entries by hand, or rewrite the layout with\n"+
			"  go test ./conform -run TestNormativeIndex -args -normative.update\n"+
			"and replace each %q line. The index as it should be laid out:\n%s",
			strings.Join(problems, "\n  "), unmappedLine, rendered)
	}
}

// The extractor finds normative sentences across lines, in lists and
// tables, and leaves out code blocks, quoted keywords and non-normative
// sentences.
func TestExtractNormative(t *testing.T) {
	const doc = "# T\n\n" +
		"\"MUST\" and `SHOULD` are quoted here. Lower-case must is no keyword.\n\n" +
		"## 1.1 One\n\n" +
		"A first sentence. A receiver MUST\ncheck L, e.g. before reading, i.e. `L`. Then more.\n\n" +
		"1. The first frame MUST be\n   Login; otherwise bad_frame.\n" +
		"2. Nothing here.\n" +
		"- A sender SHOULD NOT\n  write null.\n\n" +
		"After the list.\n\n" +
		"    code MUST be skipped\n    and this too.\n\n" +
		"```\nfenced MUST be skipped\n```\n\n" +
		"| a | b |\n|---|---|\n| x | servers MUST cut it |\n\n" +
		"### 2 Two\n\nA MUSTARD is no keyword. Clients MUST NOT rely on it.\n"
	got := extractNormative("d.md", doc)
	want := []normSentence{
		{"d.md", "1.1 One", "A receiver MUST check L, e.g. before reading, i.e. `L`."},
		{"d.md", "1.1 One", "The first frame MUST be Login; otherwise bad_frame."},
		{"d.md", "1.1 One", "A sender SHOULD NOT write null."},
		{"d.md", "1.1 One", "x | servers MUST cut it"},
		{"d.md", "2 Two", "Clients MUST NOT rely on it."},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("extractNormative:\n got %q\nwant %q", got, want)
	}
}

// The index check fails on a missing sentence, a stale entry, an unknown
// requirement ID, an entry with neither check nor reason, a malformed
// line, and on todo entries when strict; and passes a complete index.
func TestCheckIndex(t *testing.T) {
	sents := []normSentence{{"d.md", "1 One", "A MUST b."}, {"d.md", "1 One", "C SHOULD d."}}
	known := map[string]bool{"server/1/a": true}
	good := "\n#### d.md: 1 One\n\n> A MUST b.\n\n- checks: `server/1/a`\n\n> C SHOULD d.\n\n- not checkable: invisible\n\n"
	cases := []struct {
		name, index string
		strict      bool
		problem     string // "" for none
	}{
		{"complete", good, false, ""},
		{"todo allowed", strings.Replace(good, "- not checkable: invisible", "- todo: write it", 1), false, ""},
		{"todo strict", strings.Replace(good, "- not checkable: invisible", "- todo: write it", 1), true, "todo (strict)"},
		{"missing", strings.Replace(good, "> C SHOULD d.\n\n- not checkable: invisible\n\n", "", 1), false, "without an entry"},
		{"stale", good + "> E MUST f.\n\n- checks: `server/1/a`\n\n", false, "stale entry"},
		{"moved heading", strings.Replace(good, "1 One", "2 Two", 1), false, "stale entry"},
		{"unknown ID", strings.Replace(good, "server/1/a", "server/1/z", 1), false, "unknown requirement server/1/z"},
		{"unmapped", strings.Replace(good, "- not checkable: invisible", unmappedLine, 1), false, "a mapping line is"},
		{"no mapping", strings.Replace(good, "- not checkable: invisible", "- note: hm", 1), false, "neither a check nor a reason"},
		{"empty checks", strings.Replace(good, "`server/1/a`", "server/1/a", 1), false, "names no"},
		{"duplicate", good + "> A MUST b.\n\n- checks: `server/1/a`\n\n", false, "duplicate entry"},
	}
	for _, c := range cases {
		entries, problems := parseIndex(c.index)
		more, _ := checkIndex(sents, entries, known, c.strict)
		problems = append(problems, more...)
		all := strings.Join(problems, "\n")
		switch {
		case c.problem == "" && len(problems) > 0:
			t.Errorf("%s: unexpected problems:\n%s", c.name, all)
		case c.problem != "" && !strings.Contains(all, c.problem):
			t.Errorf("%s: want a problem %q, got:\n%s", c.name, c.problem, all)
		}
	}
	if entries, _ := parseIndex(good); renderIndex(sents, entries) != good {
		t.Errorf("renderIndex does not reproduce a well-laid-out index:\n%s", renderIndex(sents, entries))
	}
}
