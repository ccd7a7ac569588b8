package conform_test

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/conform"
)

var idRe = regexp.MustCompile(`^(server|client)/([0-9]+(\.[0-9]+)?|api)/[a-z0-9-]+$`)

// Every requirement has a well-formed, unique ID whose section matches its
// Section, a level, a sentence and at least one acceptable outcome.
func TestCatalogueWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, role := range []conform.Role{conform.RoleServer, conform.RoleClient} {
		reqs := conform.Catalogue(role)
		if len(reqs) < 10 {
			t.Errorf("%s: only %d requirements", role, len(reqs))
		}
		for _, r := range reqs {
			m := idRe.FindStringSubmatch(r.ID)
			switch {
			case m == nil:
				t.Errorf("%s: malformed ID", r.ID)
			case m[1] != string(role) || r.Role() != role:
				t.Errorf("%s: listed under %s", r.ID, role)
			case m[2] != r.Section:
				t.Errorf("%s: section %q does not match the ID", r.ID, r.Section)
			}
			if seen[r.ID] {
				t.Errorf("%s: duplicate ID", r.ID)
			}
			seen[r.ID] = true
			if r.Level != conform.Must && r.Level != conform.Should {
				t.Errorf("%s: level %q", r.ID, r.Level)
			}
			if !strings.HasSuffix(r.Sentence, ".") || len(r.Outcomes) == 0 {
				t.Errorf("%s: sentence %q, outcomes %q", r.ID, r.Sentence, r.Outcomes)
			}
		}
	}
}

func TestSelect(t *testing.T) {
	all := conform.Catalogue(conform.RoleServer)
	cases := []struct {
		patterns []string
		want     []string // some IDs that must be selected
		not      []string // some IDs that must not
		err      bool
	}{
		{nil, []string{"server/2.1/length-limit", "server/5.7/notify-online"}, nil, false},
		{[]string{"server/2.1/length-*"}, []string{"server/2.1/length-limit", "server/2.1/length-zero", "server/2.1/length-max"}, []string{"server/2.4/not-json"}, false},
		{[]string{"server/5.7"}, []string{"server/5.7/notify-online"}, []string{"server/2.1/length-limit"}, false},
		{[]string{"*notify*"}, []string{"server/5.7/notify-logout"}, []string{"server/5.3/p2pinfo"}, false},
		{[]string{"server/2.1/length-limit", "server/5.3/p2pinfo"}, []string{"server/2.1/length-limit", "server/5.3/p2pinfo"}, []string{"server/5.3/p2pinfo-offline"}, false},
		{[]string{"server/9/nothing"}, nil, nil, true},
	}
	for _, tc := range cases {
		got, err := conform.Select(all, tc.patterns)
		if (err != nil) != tc.err {
			t.Errorf("%q: error %v", tc.patterns, err)
			continue
		}
		ids := map[string]bool{}
		for _, r := range got {
			ids[r.ID] = true
		}
		for _, w := range tc.want {
			if !ids[w] {
				t.Errorf("%q: %s not selected", tc.patterns, w)
			}
		}
		for _, n := range tc.not {
			if ids[n] {
				t.Errorf("%q: %s selected", tc.patterns, n)
			}
		}
	}
}

// The JSON and JUnit reports carry every result; a SHOULD failure counts
// only with strict.
func TestReports(t *testing.T) {
	results := []conform.Result{
		{ID: "server/2/a", Level: conform.Must, Section: "2", Sentence: "A.", Verdict: conform.Pass, Duration: time.Millisecond},
		{ID: "server/2/b", Level: conform.Must, Section: "2", Sentence: "B.", Verdict: conform.Fail, Expected: "x", Actual: "y"},
		{ID: "server/2/c", Level: conform.Should, Section: "2", Sentence: "C.", Verdict: conform.Fail, Expected: "p", Actual: "q"},
		{ID: "server/2/d", Level: conform.Should, Section: "2", Sentence: "D.", Verdict: conform.Skip, Message: "no admin"},
	}
	s := conform.Summarize(results)
	if s.Total != 4 || s.Passed != 1 || s.Failed != 2 || s.Skipped != 1 || s.MustFailed != 1 || s.ShouldFailed != 1 {
		t.Fatalf("summary %+v", s)
	}
	if s.Conforms(false) || (conform.Summary{ShouldFailed: 1}).Conforms(true) || !(conform.Summary{ShouldFailed: 1}).Conforms(false) {
		t.Fatal("Conforms does not follow MUST/SHOULD/strict")
	}
	dir := t.TempDir()
	for _, strict := range []bool{false, true} {
		rep := conform.Report{Role: conform.RoleServer, Target: "x", Strict: strict, Results: results}
		jp, xp := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.xml")
		if err := conform.WriteJSON(jp, rep); err != nil {
			t.Fatal(err)
		}
		if err := conform.WriteJUnit(xp, rep); err != nil {
			t.Fatal(err)
		}
		var back conform.Report
		b, _ := os.ReadFile(jp)
		if err := json.Unmarshal(b, &back); err != nil || len(back.Results) != 4 || back.Conforms || back.Results[1].Actual != "y" {
			t.Fatalf("json report: %v %+v", err, back)
		}
		var ju struct {
			Suites []struct {
				Tests    int `xml:"tests,attr"`
				Failures int `xml:"failures,attr"`
				Skipped  int `xml:"skipped,attr"`
			} `xml:"testsuite"`
		}
		b, _ = os.ReadFile(xp)
		if err := xml.Unmarshal(b, &ju); err != nil || len(ju.Suites) != 1 {
			t.Fatalf("junit report: %v\n%s", err, b)
		}
		wantFail := 1
		if strict {
			wantFail = 2
		}
		if su := ju.Suites[0]; su.Tests != 4 || su.Failures != wantFail || su.Skipped != 4-1-wantFail {
			t.Fatalf("strict=%v: junit %+v", strict, su)
		}
	}
}
