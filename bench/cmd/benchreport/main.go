// Command benchreport runs every p2plab benchmark, bounded in time, and
// rewrites the generated part of docs/benchmarks.md (between the
// benchreport markers) with the machine's details, a summary table with
// each goal met or missed, the exact commands and the raw figures. It also
// times the core Ginkgo suite on each backend. `make bench` runs it as
// root; it is a developer tool, not part of the lab.
//
//	go run ./bench/cmd/benchreport [-doc docs/benchmarks.md] [-artifacts artifacts/bench] [-quick] [-suites=false]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/p2plab/p2plab/internal/progress"
)

func main() {
	doc := flag.String("doc", "docs/benchmarks.md", "the document whose generated section is rewritten")
	art := flag.String("artifacts", "artifacts/bench", "folder for the raw output of every step")
	quick := flag.Bool("quick", false, "small sizes only (10 and 50 clients), one netlab round; for trying the tool")
	suites := flag.Bool("suites", true, "also time the core Ginkgo suite on each backend")
	only := flag.String("only", "", "run only the steps whose name contains this; the others' figures come from the last run's saved results in -artifacts")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "benchreport: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(*art, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	abs, _ := filepath.Abs(*art)
	m := machineInfo()
	steps := plan(*quick, *suites, abs)
	var results []*stepResult
	n := 0
	for _, s := range steps {
		if *only == "" || strings.Contains(s.name, *only) {
			n++
		}
	}
	prog := progress.New(os.Stderr, n)
	defer prog.Close()
	for _, s := range steps {
		if *only != "" && !strings.Contains(s.name, *only) {
			if r := load(abs, s); r != nil {
				results = append(results, r)
			}
			continue
		}
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(os.Stderr, "== %s: %s\n", s.name, s.display)
		prog.Begin(s.name)
		r := run(ctx, s, abs)
		prog.Done(fmt.Sprintf("%s (load %s -> %s)", r.status, r.loadBefore, r.loadAfter))
		results = append(results, r)
		if err := save(abs, r); err != nil {
			fmt.Fprintln(os.Stderr, "benchreport: save:", err)
		}
	}
	m.LoadEnd = loadAvg()
	text := render(m, results, *quick)
	if err := rewrite(*doc, text); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "benchreport: wrote the generated section of %s (raw output in %s)\n", *doc, abs)
	for _, r := range results {
		if r.status == statusFailed {
			fmt.Fprintln(os.Stderr, "benchreport: some steps failed (see the report); figures of the others are recorded")
			break
		}
	}
}
