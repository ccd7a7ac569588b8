package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/sim"
	"github.com/p2plab/p2plab/sim/matrix"
	"github.com/p2plab/p2plab/sim/matrixreport"
)

func init() {
	register("matrix", "run the NAT-pair matrix (docs/matrix.md)", runMatrix)
}

func runMatrix(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("matrix", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "usage: p2plab matrix [flags]\n\n"+
			"For every pair of NAT kinds, builds a WAN with the server and the two\n"+
			"clients behind their NATs, runs trials (connect, chat both ways, cut the\n"+
			"direct path, recover) and judges each against the oracle of docs/matrix.md.\n"+
			"Writes matrix.json, junit.xml, matrix.md and matrix.html into the artifacts.\n"+
			"Exit 0: every pair passed or is unsupported; 1: a pair failed or erred;\n"+
			"2: bad usage; 130: interrupted.\n\nflags:\n")
		fs.PrintDefaults()
	}
	backend := fs.String("backend", sim.BackendNetns, "lab backend: netns or docker (NAT routers need one of them)")
	kinds := fs.String("kinds", strings.Join(matrix.DefaultKinds, ","), "comma-separated `KINDS`: none, "+joinTypes()+", same-nat, same-nat-no-hairpin; suffix -notcp drops inbound TCP SYNs")
	pairs := fs.String("pairs", "", "run only these comma-separated `ROW/COL` pairs of the kinds")
	trials := fs.Int("trials", matrix.DefaultTrials, "trials per pair")
	delay := fs.Duration("delay", matrix.DefaultDelay, "one-way delay of each home link (0: none)")
	parallel := fs.Int("parallel", matrix.DefaultParallel, "pairs run at once, each in its own lab")
	hb := fs.Duration("heartbeat", matrix.DefaultHeartbeat, "heartbeat interval given to the programs")
	misses := fs.Int("misses", matrix.DefaultMisses, "heartbeat misses given to the programs")
	artifacts := fs.String("artifacts", "", "artifacts and reports `DIR` (default ./artifacts/matrix-<time>)")
	binary := fs.String("binary", "", "p2plab binary the default role commands run (default: this one)")
	serverCmd := fs.String("server-cmd", sim.DefaultServerCommand, "server command `TEMPLATE` (as in p2plab run)")
	clientCmd := fs.String("client-cmd", matrix.DefaultClientCommand, "client command `TEMPLATE` (as in p2plab run; the default punches)")
	quiet := fs.Bool("q", false, "no progress lines")
	if _, err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "p2plab matrix: "+format+"\n", a...)
		return 2
	}
	if *backend == sim.BackendLocal {
		return bad("--backend local: %v: the matrix needs NAT routers (netns or docker)", netlab.ErrNotSupported)
	}
	if !slices.Contains(netlab.Backends(), *backend) {
		return bad("--backend %q: want one of %s", *backend, strings.Join(netlab.Backends(), ", "))
	}
	if err := checkRoleTemplates(*backend, *serverCmd, *clientCmd, "", ""); err != nil {
		return bad("%v", err)
	}
	cfg := matrix.Config{
		Trials: *trials, Delay: *delay, Parallel: *parallel, Backend: *backend, Binary: *binary,
		ServerCommand: *serverCmd, ClientCommand: *clientCmd, Heartbeat: *hb, Misses: *misses, Log: os.Stderr,
	}
	if *delay == 0 {
		cfg.Delay = -1
	}
	for _, n := range splitList(*kinds) {
		k, err := matrix.KindByName(n)
		if err != nil {
			return bad("--kinds: %v", err)
		}
		cfg.Kinds = append(cfg.Kinds, k)
	}
	cfg.Only = splitList(*pairs)
	sel, err := cfg.SelectedPairs()
	if err != nil {
		return bad("--pairs: %v", err)
	}
	root := *artifacts
	if root == "" {
		root = filepath.Join("artifacts", "matrix-"+time.Now().UTC().Format("20060102-150405"))
	}
	root, _ = filepath.Abs(root)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return bad("artifacts: %v", err)
	}
	cfg.Artifacts = root
	newBackend, done, err := sharedBackend(ctx, *backend, *binary)
	defer done()
	if err != nil {
		fmt.Fprintf(os.Stderr, "p2plab matrix: %v\n", err)
		return 1
	}
	cfg.NewBackend = newBackend
	fmt.Printf("p2plab matrix: %d pairs x %d trials on %s, %d at once; artifacts in %s\n", len(sel), cfg.Trials, *backend, max(1, cfg.Parallel), root)
	var prog *matrixreport.Progress
	if !*quiet {
		prog = matrixreport.NewProgress(os.Stdout, len(sel), cfg.Trials)
		cfg.OnTrial = func(p matrix.Pair, t *matrixreport.Trial, _, _ int) { prog.Trial(p.Row.Name, p.Col.Name, t) }
	}
	rep, runErr := matrix.Run(ctx, cfg)
	if prog != nil {
		prog.Close()
	}
	if rep == nil {
		fmt.Fprintf(os.Stderr, "p2plab matrix: %v\n", runErr)
		return 1
	}
	rep.Meta.Note = "p2plab matrix " + strings.Join(args, " ")
	files, err := rep.WriteFiles(root)
	if err != nil {
		fmt.Fprintf(os.Stderr, "p2plab matrix: reports: %v\n", err)
	}
	counts := rep.Counts()
	fmt.Printf("p2plab matrix: %d pairs: %d pass, %d unsupported, %d fail, %d error in %s (CPU %s)\n", len(rep.Cells),
		counts[matrixreport.Pass], counts[matrixreport.Unsupported], counts[matrixreport.Fail], counts[matrixreport.Error],
		rep.Meta.Wall.Round(time.Second), rep.Meta.CPU.Round(time.Second))
	for _, c := range rep.Cells {
		if c.Verdict == matrixreport.Fail || c.Verdict == matrixreport.Error {
			fmt.Printf("  %s %s/%s: %s\n", strings.ToUpper(string(c.Verdict)), c.Row, c.Col, c.Reason)
		}
	}
	for _, f := range files {
		fmt.Printf("report: %s\n", f)
	}
	switch {
	case runErr != nil && ctx.Err() != nil:
		return exitInterrupted
	case counts[matrixreport.Fail] > 0 || counts[matrixreport.Error] > 0 || err != nil:
		return 1
	}
	return 0
}

func joinTypes() string {
	s := make([]string, len(netlab.NATTypes))
	for i, t := range netlab.NATTypes {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
