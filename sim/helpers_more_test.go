package sim

import (
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/internal/junit"
)

func TestParsers(t *testing.T) {
	sizes := map[string]int64{"4096": 4096, "64KiB": 64 << 10, "1MiB": 1 << 20, "2kB": 2000, "1.5KiB": 1536}
	for s, want := range sizes {
		if got, err := parseSize(s); err != nil || got != want {
			t.Errorf("size %q: %d %v, want %d", s, got, err, want)
		}
	}
	rates := map[string]uint64{"512kbit": 512_000, "2mbit": 2_000_000, "1gbit": 1e9, "9600": 9600}
	for s, want := range rates {
		if got, err := parseRate(s); err != nil || got != want {
			t.Errorf("rate %q: %d %v, want %d", s, got, err, want)
		}
	}
	cmps := []struct {
		s    string
		have int64
		ok   bool
	}{{"2", 2, true}, {">= 1", 0, false}, {"> 0", 3, true}, {"< 2", 2, false}, {"!= 1", 0, true}, {"<=3", 3, true}}
	for _, c := range cmps {
		op, n, err := parseCmp(c.s)
		if err != nil || cmpOK(op, c.have, n) != c.ok {
			t.Errorf("cmp %q have %d: %v (err %v), want %v", c.s, c.have, cmpOK(op, c.have, n), err, c.ok)
		}
	}
	for _, bad := range []string{"lots", "-1", ">= x"} {
		if _, _, err := parseCmp(bad); err == nil {
			t.Errorf("cmp %q: no error", bad)
		}
	}
	for _, p := range []string{"0", "65536", "9-3", "a-b"} {
		if _, err := parsePorts(p); err == nil {
			t.Errorf("ports %q: no error", p)
		}
	}
}

func TestReports(t *testing.T) {
	dir := t.TempDir()
	rs := []*Result{
		{ID: "a", Requirement: "ra", Level: "must", Backend: "netns", Passed: true, Duration: time.Second, TotalSteps: 1,
			Steps: []StepResult{{Index: 0, Kind: "start", Text: "start server", Passed: true}}},
		{ID: "b", Requirement: "rb", Level: "should", Backend: "netns", Error: "step 1: boom\n  expected: x", Err: errors.New("boom"), TotalSteps: 2},
	}
	jp := filepath.Join(dir, "j.xml")
	if err := WriteJUnit(jp, rs); err != nil {
		t.Fatal(err)
	}
	var doc junit.Report
	data, _ := os.ReadFile(jp)
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("junit does not parse: %v", err)
	}
	if doc.Tests != 2 || doc.Failures != 1 || len(doc.Suites) != 1 || doc.Suites[0].Cases[1].Failure == nil ||
		doc.Suites[0].Cases[1].Failure.Message != "step 1: boom" || doc.Suites[0].Cases[0].Name != "a: ra" {
		t.Fatalf("junit: %+v", doc)
	}
	if err := WriteJSON(filepath.Join(dir, "r.json"), rs); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	WriteSummary(&b, rs)
	if !strings.Contains(b.String(), "2 scenarios: 1 passed, 1 failed") || !strings.Contains(b.String(), "0/2") {
		t.Fatalf("summary:\n%s", b.String())
	}
}
