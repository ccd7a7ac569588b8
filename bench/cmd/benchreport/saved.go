package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// saved is a step's result as kept next to its output (NAME.json), so a
// later run with -only can keep the other steps' figures in the report.
type saved struct {
	Name, Display, Status string
	Suite                 bool
	Wall                  time.Duration
	LoadBefore, LoadAfter string
	Benches               []bench
	Skips                 []string
	Tail, Specs           string
	When                  time.Time
}

func savePath(art, name string) string { return filepath.Join(art, fileName(name)+".json") }

func save(art string, r *stepResult) error {
	b, err := json.MarshalIndent(saved{Name: r.name, Display: r.display, Status: r.status, Suite: r.suite, Wall: r.wall,
		LoadBefore: r.loadBefore, LoadAfter: r.loadAfter, Benches: r.benches, Skips: r.skips, Tail: r.tail, Specs: r.specs,
		When: time.Now().UTC()}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(savePath(art, r.name), b, 0o644)
}

// load returns the result an earlier run saved for s (nil if none).
func load(art string, s step) *stepResult {
	b, err := os.ReadFile(savePath(art, s.name))
	if err != nil {
		// Only the raw output: figures without timing.
		out, err := os.ReadFile(filepath.Join(art, fileName(s.name)+".txt"))
		if err != nil {
			return nil
		}
		return &stepResult{step: s, status: "ok (earlier run; timing not recorded)", loadBefore: "?", loadAfter: "?",
			benches: parseBenches(string(out)), skips: parseSkips(string(out)), specs: parseSpecs(string(out))}
	}
	var v saved
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	r := &stepResult{step: s, status: v.Status + " (earlier run, " + v.When.Format("15:04 UTC") + ")", wall: v.Wall,
		loadBefore: v.LoadBefore, loadAfter: v.LoadAfter, benches: v.Benches, skips: v.Skips, tail: v.Tail, specs: v.Specs}
	if len(r.benches) == 0 { // a sidecar with timing only: the figures are in the raw output
		if out, err := os.ReadFile(filepath.Join(art, fileName(s.name)+".txt")); err == nil {
			r.benches = parseBenches(string(out))
			if r.specs == "" {
				r.specs = parseSpecs(string(out))
			}
		}
	}
	return r
}
