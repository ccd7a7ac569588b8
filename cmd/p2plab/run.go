package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/p2plab/p2plab/internal/progress"
	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/netlab/docker"
	"github.com/p2plab/p2plab/scenarios"
	"github.com/p2plab/p2plab/sim"
	"github.com/p2plab/p2plab/sim/htmlreport"
)

func init() { register("run", "run scenarios in a lab (default: every shipped scenario)", runRun) }

func runRun(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: p2plab run [flags] [FILE|ID...]\n\n"+
			"Runs scenario files, or shipped scenarios by the id --list prints\n"+
			"(default: every shipped scenario), in a lab and prints\n"+
			"a line per step and a summary. Exit 0: all passed; 1: a failure; 2: bad\n"+
			"usage or a bad file; 130: interrupted (Ctrl-C or SIGTERM) before every\n"+
			"scenario had a verdict (the interrupted one is reported INTERRUPTED, the\n"+
			"reports are still written).\n\nflags:\n")
		fs.PrintDefaults()
	}
	backend := fs.String("backend", sim.BackendNetns, "lab backend: "+strings.Join(netlab.Backends(), ", "))
	junit := fs.String("junit", "", "write a JUnit XML report to `FILE`")
	jsonOut := fs.String("json", "", "write a JSON report to `FILE`")
	htmlOut := fs.String("html", "", "write a self-contained HTML report (summary, timelines, artifact links) to `FILE`")
	artifacts := fs.String("artifacts", "", "artifacts root `DIR` (default ./artifacts/run-<time>)")
	keep := fs.Bool("keep", false, "leave a failed scenario's lab up for inspection (remove it with `p2plab clean`)")
	capture := fs.Bool("capture", false, "write a pcap of every host into the artifacts")
	binary := fs.String("binary", "", "p2plab binary the default role commands run (default: this one)")
	serverCmd := fs.String("server-cmd", sim.DefaultServerCommand, "server command `TEMPLATE`")
	clientCmd := fs.String("client-cmd", sim.DefaultClientCommand, "client command `TEMPLATE`")
	serverImage := fs.String("server-image", "", "docker backend: run the server from this local `IMAGE` (nothing is pulled; without --server-cmd, the image's entrypoint runs with the placeholders in P2PLAB_* variables)")
	clientImage := fs.String("client-image", "", "docker backend: run each client from this local `IMAGE` (likewise)")
	label := fs.String("label", "", "run only scenarios carrying this `LABEL`")
	list := fs.Bool("list", false, "list the scenarios and exit")
	files, err := parseFlags(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if !slices.Contains(netlab.Backends(), *backend) {
		fmt.Fprintf(os.Stderr, "p2plab run: --backend %q: want one of %s\n", *backend, strings.Join(netlab.Backends(), ", "))
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if (*serverImage != "" || *clientImage != "") && *backend != sim.BackendDocker {
		fmt.Fprintf(os.Stderr, "p2plab run: --server-image and --client-image need --backend docker\n")
		return 2
	}
	// With an image and no template of its own, the image's entrypoint
	// runs (the default template names the p2plab binary, which another
	// implementation's image does not hold).
	if *serverImage != "" && !set["server-cmd"] {
		*serverCmd = ""
	}
	if *clientImage != "" && !set["client-cmd"] {
		*clientCmd = ""
	}
	if err := checkRoleTemplates(*backend, *serverCmd, *clientCmd, *serverImage, *clientImage); err != nil {
		fmt.Fprintf(os.Stderr, "p2plab run: %v\n", err)
		return 2
	}
	ss, err := loadScenarios(files)
	if err != nil {
		fmt.Fprintf(os.Stderr, "p2plab run: bad scenario file:\n%v\n", err)
		return 2
	}
	if *label != "" {
		var keepSS []*sim.Scenario
		for _, s := range ss {
			for _, l := range s.Labels {
				if l == *label {
					keepSS = append(keepSS, s)
					break
				}
			}
		}
		ss = keepSS
	}
	if *list {
		for _, s := range ss {
			fmt.Printf("%-22s %-6s %-28s %s\n", s.ID, s.Level, s.File, strings.Join(s.Labels, ","))
		}
		return 0
	}
	if len(ss) == 0 {
		fmt.Fprintln(os.Stderr, "p2plab run: no scenarios to run")
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "p2plab run: warning: not root; labs need root (or CAP_NET_ADMIN and CAP_SYS_ADMIN): try sudo")
	}
	root := *artifacts
	if root == "" {
		root = filepath.Join("artifacts", "run-"+time.Now().Format("20060102-150405"))
	}
	root, _ = filepath.Abs(root)
	if err := os.MkdirAll(root, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "p2plab run: artifacts: %v\n", err)
		return 2
	}
	fmt.Printf("p2plab run: %d scenarios on %s; artifacts in %s\n", len(ss), *backend, root)
	for _, r := range []struct{ role, cmd, image, def string }{
		{"server", *serverCmd, *serverImage, sim.DefaultServerCommand}, {"client", *clientCmd, *clientImage, sim.DefaultClientCommand},
	} {
		if r.cmd != r.def || r.image != "" {
			fmt.Printf("p2plab run: %s under test: %s\n", r.role, roleText(r.cmd, r.image))
		}
	}
	newBackend, done, err := sharedBackend(ctx, *backend, *binary)
	defer done()
	if err != nil {
		fmt.Fprintf(os.Stderr, "p2plab run: %v\n", err)
		return 1
	}
	var results []*sim.Result
	failed, interrupted := 0, false
	runStart := time.Now()
	for i, s := range ss {
		if ctx.Err() != nil {
			break
		}
		fmt.Printf("\n=== [%d/%d] %s (%s, %s; %s)\n    %s\n", i+1, len(ss), s.ID, s.Level, s.File, progress.Status(i, len(ss), time.Since(runStart)), s.Requirement)
		r := sim.Run(ctx, s, sim.RunOptions{
			Backend: *backend, NewBackend: newBackend, Binary: *binary, ServerCommand: *serverCmd, ClientCommand: *clientCmd,
			ServerImage: *serverImage, ClientImage: *clientImage,
			Capture: *capture, Artifacts: root, Keep: *keep, Progress: os.Stdout,
		})
		results = append(results, r)
		if r.Passed {
			fmt.Printf("--- PASS %s (%s)\n", s.ID, r.Duration.Round(10*time.Millisecond))
			continue
		}
		if r.Verdict == sim.VerdictInterrupted {
			interrupted = true
			fmt.Printf("--- INTERRUPTED %s (%s)\n%s\n", s.ID, r.Duration.Round(10*time.Millisecond), indentText(r.Error))
			break
		}
		failed++
		fmt.Printf("--- FAIL %s (%s)\n%s\n", s.ID, r.Duration.Round(10*time.Millisecond), indentText(r.Error))
		if r.KeptLab != "" {
			fmt.Printf("    lab %s left up for inspection; remove it with: p2plab clean\n", r.KeptLab)
		}
	}
	fmt.Println()
	sim.WriteSummary(os.Stdout, results)
	code := 0
	if failed > 0 {
		code = 1
	}
	if interrupted || ctx.Err() != nil {
		if n := len(ss) - len(results); n > 0 {
			fmt.Printf("%d scenarios not run: interrupted\n", n)
		}
		code = exitInterrupted
	}
	if *junit != "" {
		if err := sim.WriteJUnit(*junit, results); err != nil {
			fmt.Fprintln(os.Stderr, "p2plab run:", err)
			code = max(code, 1)
		}
	}
	if *jsonOut != "" {
		if err := sim.WriteJSON(*jsonOut, results); err != nil {
			fmt.Fprintln(os.Stderr, "p2plab run:", err)
			code = max(code, 1)
		}
	}
	if *htmlOut != "" {
		if err := htmlreport.Write(*htmlOut, "p2plab run", results); err != nil {
			fmt.Fprintln(os.Stderr, "p2plab run:", err)
			code = max(code, 1)
		} else {
			fmt.Printf("report: %s\n", *htmlOut)
		}
	}
	return code
}

// exitInterrupted is run's exit status when a signal stopped it: 128 +
// SIGINT, as shells report a program killed by Ctrl-C.
const exitInterrupted = 130

func indentText(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }

// loadScenarios loads the named files (named topologies from the file's
// directory's topologies/, else the shipped ones), or every shipped one.
// An argument that is no file but the id of a shipped scenario (as --list
// prints it) names that scenario; a file of that name wins.
func loadScenarios(files []string) ([]*sim.Scenario, error) {
	if len(files) == 0 {
		return sim.LoadScenarios(scenarios.FS)
	}
	var shipped []*sim.Scenario
	var out []*sim.Scenario
	var all sim.FileErrors
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) && !strings.ContainsRune(f, os.PathSeparator) {
			if shipped == nil {
				if shipped, err = sim.LoadScenarios(scenarios.FS); err != nil {
					return nil, err
				}
			}
			i := slices.IndexFunc(shipped, func(s *sim.Scenario) bool { return s.ID == f })
			if i < 0 {
				ids := make([]string, len(shipped))
				for j, s := range shipped {
					ids[j] = s.ID
				}
				return nil, fmt.Errorf("%s: no such file, nor a shipped scenario id (ids: %s)", f, strings.Join(ids, ", "))
			}
			out = append(out, shipped[i])
			continue
		}
		if err != nil {
			return nil, err
		}
		dir := filepath.Dir(f)
		topo := func(name string) (string, []byte, error) {
			p := filepath.Join(dir, "topologies", name+".yaml")
			if b, err := os.ReadFile(p); err == nil {
				return p, b, nil
			}
			return sim.FSTopologies(scenarios.FS)(name)
		}
		s, err := sim.ParseScenario(f, data, topo)
		if err != nil {
			var fe sim.FileErrors
			if errors.As(err, &fe) {
				all = append(all, fe...)
				continue
			}
			return nil, err
		}
		out = append(out, s)
	}
	if len(all) > 0 {
		return nil, all
	}
	return out, nil
}

// sharedBackend returns how each scenario's lab gets its backend. On docker,
// the image is built once for the whole run and shared by every lab (done
// removes it); on netns it returns nil (sim's default).
func sharedBackend(ctx context.Context, backend, binary string) (func(context.Context) (netlab.Backend, error), func(), error) {
	if backend != sim.BackendDocker {
		return nil, func() {}, nil
	}
	if err := docker.Available(ctx); err != nil {
		return nil, func() {}, fmt.Errorf("docker backend: %w", err)
	}
	if binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, func() {}, fmt.Errorf("find the p2plab binary: %w", err)
		}
		binary = exe
	}
	img, err := docker.BuildImage(ctx, binary)
	done := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := img.Remove(rctx); err != nil {
			fmt.Fprintf(os.Stderr, "p2plab run: %v\n", err)
		}
	}
	if err != nil {
		return nil, done, err
	}
	return func(context.Context) (netlab.Backend, error) { return docker.New().WithImage(img) }, done, nil
}

// checkRoleTemplates refuses, before any lab comes up, a role template
// that does not expand, lacks what the lab drives the role through
// ({listen}, {control}), or names a program that does not exist on this
// machine (the netns and local backends run the machine's own files). A
// role with an image may have no template (its entrypoint runs).
func checkRoleTemplates(backend, serverCmd, clientCmd, serverImage, clientImage string) error {
	for _, r := range []struct {
		flag, tmpl, image string
		need              []string
	}{{"--server-cmd", serverCmd, serverImage, sim.ServerNeeds}, {"--client-cmd", clientCmd, clientImage, sim.ClientNeeds}} {
		if r.tmpl == "" && r.image != "" {
			continue
		}
		if err := sim.CheckTemplate(r.tmpl, r.need...); err != nil {
			return fmt.Errorf("%s: %w", r.flag, err)
		}
		if backend == sim.BackendDocker {
			continue
		}
		if err := sim.CheckProgram(r.tmpl); err != nil {
			return fmt.Errorf("%s: %w", r.flag, err)
		}
	}
	return nil
}

// roleText says what a role runs: its template, its image, or both.
func roleText(cmd, image string) string {
	switch {
	case image == "":
		return cmd
	case cmd == "":
		return "image " + image + " (its entrypoint)"
	}
	return "image " + image + ": " + cmd
}
