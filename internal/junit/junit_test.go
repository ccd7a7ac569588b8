package junit

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The counts of every suite and of the document follow the cases, and
// the file parses back.
func TestWrite(t *testing.T) {
	var r Report
	s := r.Suite("a", time.Unix(0, 0))
	r.Add(s, Case{Name: "pass"}, time.Second)
	r.Add(s, Case{Name: "fail", Failure: &Message{Message: "m"}}, time.Second)
	r.Add(r.Suite("b", time.Time{}), Case{Name: "err", Error: &Message{Message: "e"}}, 500*time.Millisecond)
	r.Add(r.Suite("a", time.Time{}), Case{Name: "skip", Skipped: &Message{}}, 0)
	path := filepath.Join(t.TempDir(), "r.xml")
	if err := r.Write(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := xml.Unmarshal(b, &back); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if back.Tests != 4 || back.Failures != 1 || back.Errors != 1 || back.Skipped != 1 || back.Time != "2.500" || len(back.Suites) != 2 {
		t.Fatalf("document counts %+v\n%s", back, b)
	}
	if a := back.Suites[0]; a.Name != "a" || a.Tests != 3 || a.Failures != 1 || a.Skipped != 1 || a.Time != "2.000" || a.Timestamp != "1970-01-01T00:00:00Z" {
		t.Fatalf("suite a %+v", a)
	}
}
