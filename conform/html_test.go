package conform

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteHTML(t *testing.T) {
	for _, tc := range []struct {
		name    string
		results []Result
		verdict string
	}{
		{"conforms", []Result{{ID: "server/5.1/login-first", Level: Must, Verdict: Pass}}, "CONFORMS"},
		{"must fails", []Result{
			{ID: "server/5.1/login-first", Level: Must, Verdict: Pass},
			{ID: "server/5.5/forged-sender", Level: Must, Section: "5.5", Doc: "docs/protocol.md", Sentence: "The server MUST refuse <a forged> sender.",
				Verdict: Fail, Expected: "Error forbidden", Actual: "the chat was relayed"},
		}, "DOES NOT CONFORM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "conform.html")
			rep := Report{Role: RoleServer, Target: "127.0.0.1:7000", Started: time.Now(), Results: tc.results}
			if err := WriteHTML(p, rep); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			page := string(b)
			if !strings.Contains(page, `id="verdict">`+tc.verdict+`<`) {
				t.Errorf("verdict %q not on the page:\n%s", tc.verdict, page)
			}
			if n := strings.Count(page, `<tr class="`); n != len(tc.results) {
				t.Errorf("%d result rows, want %d", n, len(tc.results))
			}
			for _, r := range tc.results {
				if !strings.Contains(page, `data-id="`+r.ID+`"`) || !strings.Contains(page, r.Actual) {
					t.Errorf("row of %s (actual %q) missing", r.ID, r.Actual)
				}
			}
			if strings.Contains(page, "<a forged>") {
				t.Error("the sentence is not escaped")
			}
		})
	}
}
