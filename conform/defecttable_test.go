package conform_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/p2plab/p2plab/conform/internal/defective"
)

// defectRowRe is one row of the self-test table of docs/conformance.md:
// role, the defect's name, how it is made, what it fails.
var defectRowRe = regexp.MustCompile("^\\| (server|client) `([a-z0-9-]+)`( \\(v1\\.1 part\\))? \\|[^|]*\\| (.*) \\|$")

// shortIDRe is a requirement ID as the table writes it, without its role.
var shortIDRe = regexp.MustCompile(`\b(?:\d+\.\d+|api)/[a-z0-9]+(?:-[a-z0-9]+)*\b`)

// docDefectTable reads the self-test table: for each "role/defect" the
// requirement IDs its rows name (the rows of one defect add up).
func docDefectTable(t *testing.T) map[string]map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../docs/conformance.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]map[string]bool{}
	for i, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| server `") && !strings.HasPrefix(line, "| client `") {
			continue
		}
		m := defectRowRe.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("docs/conformance.md:%d: not a row of the defect table (| role `defect` | how | fails |): %s", i+1, line)
			continue
		}
		role, name, fails := m[1], m[2], m[4]
		k := role + "/" + name
		if rows[k] == nil {
			rows[k] = map[string]bool{}
		}
		for _, id := range shortIDRe.FindAllString(fails, -1) {
			rows[k][role+"/"+id] = true
		}
	}
	return rows
}

// codeDefectTable is what the self-test asserts each defect fails: its
// full-run list and its section 9 list.
func codeDefectTable() map[string]map[string]bool {
	code := map[string]map[string]bool{}
	add := func(k string, ids map[string]bool, more []string) {
		s := map[string]bool{}
		for id := range ids {
			s[id] = true
		}
		for _, id := range more {
			s[id] = true
		}
		code[k] = s
	}
	for _, tc := range serverDefectCases {
		add("server/"+string(tc.defect), tc.fails, v11ServerDefects[tc.defect])
	}
	for _, tc := range clientDefectCases {
		add("client/"+string(tc.defect), tc.fails, v11ClientDefects[tc.defect])
	}
	return code
}

// The table of docs/conformance.md "The self-test" names every defective
// implementation, with exactly the requirements the self-test asserts it
// fails, and every defect the package has is in the self-test.
func TestDocsDefectTable(t *testing.T) {
	doc, code := docDefectTable(t), codeDefectTable()
	for _, d := range defective.ServerDefects {
		if code["server/"+string(d)] == nil {
			t.Errorf("server defect %s: not in serverDefectCases", d)
		}
	}
	for _, d := range defective.ClientDefects {
		if code["client/"+string(d)] == nil {
			t.Errorf("client defect %s: not in clientDefectCases", d)
		}
	}
	for k, want := range code {
		got, ok := doc[k]
		if !ok {
			t.Errorf("%s: no row in docs/conformance.md", k)
			continue
		}
		if !sameSet(got, want) {
			t.Errorf("%s: docs/conformance.md lists %v, the self-test asserts %v", k, keys(got), keys(want))
		}
	}
	for k := range doc {
		if code[k] == nil {
			t.Errorf("%s: a row in docs/conformance.md for a defect the self-test does not run", k)
		}
	}
}
