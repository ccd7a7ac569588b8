package main

// The conform subcommand: check a server or client implementation against
// the requirement catalogue of package conform.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/p2plab/p2plab/conform"
	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/sim"
)

func init() {
	register("conform", "check a server or client implementation against the protocol", runConform)
}

// stringList is a repeatable flag; each value may hold several
// comma-separated items.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

const conformUsage = `usage:
  p2plab conform server (--addr IP:PORT | --cmd 'COMMAND {listen} {admin}' | --image TAG) [flags]
  p2plab conform client (--cmd 'COMMAND {server} {user} {control} {log}' | --image TAG) [flags]
  p2plab conform server|client --list

Runs the requirement catalogue (docs/conformance.md) against an
implementation and prints expected vs actual for each failure. Exit status:
0 conforms, 1 a MUST requirement failed (or a SHOULD one with --strict),
2 bad usage or the target could not be started.
`

// conformFlags are the flags both roles share.
type conformFlags struct {
	list, strict    bool
	markdown        bool
	run             stringList
	junit, jsonPath string
	htmlPath        string
	cmd, image      string
	heartbeat       time.Duration
	misses          int
	verbose         bool
	lab             string
	artifacts       string
}

func (c *conformFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.list, "list", false, "print the catalogue (ID, level, section, sentence) and exit")
	fs.BoolVar(&c.markdown, "markdown", false, "with --list: print a Markdown table")
	fs.Var(&c.run, "run", "run only requirements matching these globs (repeatable, comma-separated; '*' matches across '/')")
	fs.BoolVar(&c.strict, "strict", false, "SHOULD failures count too")
	fs.StringVar(&c.junit, "junit", "", "write a JUnit XML report to FILE")
	fs.StringVar(&c.jsonPath, "json", "", "write a JSON report to FILE")
	fs.StringVar(&c.htmlPath, "html", "", "write a self-contained HTML report to FILE")
	fs.StringVar(&c.cmd, "cmd", "", "command line that starts the implementation (placeholders in braces)")
	fs.StringVar(&c.image, "image", "", "docker image of the implementation (docker backend)")
	fs.DurationVar(&c.heartbeat, "heartbeat", 0, fmt.Sprintf("the implementation's heartbeat interval ({heartbeat}; with --cmd or --image default %v for a server, %v for a client)",
		conform.DefaultServerHeartbeat, conform.DefaultClientHeartbeat))
	fs.IntVar(&c.misses, "misses", 0, fmt.Sprintf("the implementation's heartbeat misses before timeout ({misses}; with --cmd or --image default %d for a server, %d for a client)",
		conform.DefaultServerMisses, conform.DefaultClientMisses))
	fs.BoolVar(&c.verbose, "v", false, "print the target's output after the run")
	fs.StringVar(&c.artifacts, "artifacts", "", "with --cmd or --image: artifacts `DIR` kept after the run: outputs, the lab's timeline, each client check's folder and report.json (default ./artifacts/conform-<time>)")
	fs.StringVar(&c.lab, "lab", "auto", "the lab backend --cmd runs in: netns (root only), local (no root: hosts on loopback addresses), or auto (netns when root, else local); --image runs on docker")
}

func runConform(ctx context.Context, args []string) int {
	if len(args) == 0 || (args[0] != "server" && args[0] != "client") {
		fmt.Fprint(os.Stderr, conformUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return 0
		}
		return 2
	}
	role := conform.Role(args[0])
	fs := flag.NewFlagSet("conform "+args[0], flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, conformUsage); fs.PrintDefaults() }
	var cf conformFlags
	cf.register(fs)
	addr := fs.String("addr", "", "server: address of an already running server under test")
	admin := fs.String("admin", "", "server: admin API address of the server under test (enables SHOULD-level stats checks)")
	refServer := fs.String("server", "", "client: use this running reference server (IP:PORT) instead of starting one")
	patterns, err := parseFlags(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	// Positional arguments are more --run patterns.
	for _, a := range patterns {
		_ = cf.run.Set(a)
	}
	reqs, err := conform.Select(conform.Catalogue(role), cf.run)
	if err != nil {
		fmt.Fprintln(os.Stderr, "p2plab conform:", err)
		return 2
	}
	if cf.list {
		if cf.markdown {
			conform.WriteMarkdown(os.Stdout, reqs)
		} else {
			conform.WriteList(os.Stdout, reqs)
		}
		return 0
	}
	switch role {
	case conform.RoleServer:
		if *refServer != "" {
			fmt.Fprintln(os.Stderr, "p2plab conform server: --server is a client flag (use --addr)")
			return 2
		}
		return conformServer(ctx, cf, reqs, *addr, *admin)
	default:
		if *addr != "" || *admin != "" {
			fmt.Fprintln(os.Stderr, "p2plab conform client: --addr and --admin are server flags")
			return 2
		}
		return conformClient(ctx, cf, reqs, *refServer)
	}
}

// exactlyOne reports whether exactly one of the target flags is set.
func exactlyOne(vals ...string) bool {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n == 1
}

// labBackend is the backend a --cmd or --image target runs on.
func (c *conformFlags) labBackend() (string, error) {
	switch {
	case c.image != "" && c.lab != "auto" && c.lab != netlab.BackendDocker:
		return "", fmt.Errorf("--image runs on the docker backend, not --lab %s", c.lab)
	case c.image != "":
		return netlab.BackendDocker, nil
	case c.lab == "auto" && os.Geteuid() == 0:
		return netlab.BackendNetns, nil
	case c.lab == "auto":
		return netlab.BackendLocal, nil
	case !slices.Contains(netlab.Backends(), c.lab):
		return "", fmt.Errorf("--lab %q: want auto or one of %s", c.lab, strings.Join(netlab.Backends(), ", "))
	}
	return c.lab, nil
}

// labOptions are the lab settings of a --cmd or --image target; Binary is
// this program (the reference server, and the docker image's p2plab).
func (c *conformFlags) labOptions(role string) (conform.LabOptions, error) {
	b, err := c.labBackend()
	if err != nil {
		return conform.LabOptions{}, err
	}
	exe, err := os.Executable()
	if err != nil {
		return conform.LabOptions{}, err
	}
	if c.artifacts == "" {
		c.artifacts = filepath.Join("artifacts", "conform-"+time.Now().Format("20060102-150405"))
	}
	o := conform.LabOptions{Backend: b, Command: c.cmd, Image: c.image, Binary: exe, Heartbeat: c.heartbeat, Misses: c.misses, Artifacts: c.artifacts}
	if c.cmd == "" {
		return o, nil
	}
	need := map[string][]string{"server": sim.ServerNeeds, "client": {"server", "user", "control"}}[role]
	if err := sim.CheckTemplate(c.cmd, need...); err != nil {
		return o, fmt.Errorf("--cmd: %w", err)
	}
	if b != netlab.BackendDocker {
		if err := sim.CheckProgram(c.cmd); err != nil {
			return o, fmt.Errorf("--cmd: %w", err)
		}
	}
	return o, nil
}

func conformServer(ctx context.Context, cf conformFlags, reqs []conform.Requirement, addr, admin string) int {
	// With --image, --cmd is optional: the container's command line.
	if !exactlyOne(addr, cf.cmd, cf.image) && (cf.image == "" || addr != "") {
		fmt.Fprintln(os.Stderr, "p2plab conform server: give exactly one of --addr, --cmd, --image (with --image, --cmd may give the container's arguments)")
		return 2
	}
	var target conform.ServerTarget
	desc := addr
	if addr != "" {
		ap, err := parseAddrPort(addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "p2plab conform server:", err)
			return 2
		}
		target = conform.ServerTarget{Addr: ap, Admin: admin, Heartbeat: cf.heartbeat, Misses: cf.misses}
		if (cf.heartbeat > 0) != (cf.misses > 0) {
			fmt.Fprintln(os.Stderr, "p2plab conform server: give --heartbeat and --misses together")
			return 2
		}
	} else {
		o, err := cf.labOptions("server")
		if err != nil {
			fmt.Fprintln(os.Stderr, "p2plab conform server:", err)
			return 2
		}
		lab, t, err := conform.StartServerLab(ctx, o)
		if err != nil {
			fmt.Fprintln(os.Stderr, "p2plab conform server:", err)
			return 2
		}
		defer func() {
			if cf.verbose {
				fmt.Fprintf(os.Stderr, "--- server output ---\n%s\n", lab.Output())
			}
			if err := lab.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "p2plab conform server: lab close:", err)
			}
		}()
		fmt.Printf("p2plab conform server: the server runs on a %s lab host at %s; artifacts in %s\n", o.Backend, t.Addr, lab.Artifacts())
		cf.artifacts = lab.Artifacts()
		if cf.image == "" && !sim.Uses(cf.cmd, "heartbeat") && cf.heartbeat == 0 {
			t.Heartbeat, t.Misses = 0, 0 // the checker cannot know them
		}
		if admin != "" {
			t.Admin = admin
		}
		target, desc = t, cf.cmd
		if cf.image != "" {
			desc = cf.image
		}
	}
	fmt.Printf("p2plab conform server: %d requirements against %s\n", len(reqs), target.Addr)
	start := time.Now()
	results := conform.RunServer(ctx, target, reqs, func(r conform.Result) { conform.WriteLine(os.Stdout, r) })
	return finish(os.Stdout, cf, conform.RoleServer, desc, start, results)
}

// finish writes the reports and returns the exit code.
func finish(w io.Writer, cf conformFlags, role conform.Role, desc string, start time.Time, results []conform.Result) int {
	conform.WriteReport(w, results, cf.strict)
	rep := conform.Report{Role: role, Target: desc, Strict: cf.strict, Started: start.UTC(), Results: results}
	code := 0
	if cf.artifacts != "" {
		// The artifacts' own copy: checks/<n> is Results[n].
		err := os.MkdirAll(cf.artifacts, 0o755)
		if err == nil {
			err = conform.WriteJSON(filepath.Join(cf.artifacts, "report.json"), rep)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "p2plab conform:", err)
			code = 2
		}
	}
	if cf.jsonPath != "" {
		if err := conform.WriteJSON(cf.jsonPath, rep); err != nil {
			fmt.Fprintln(os.Stderr, "p2plab conform:", err)
			code = 2
		}
	}
	if cf.junit != "" {
		if err := conform.WriteJUnit(cf.junit, rep); err != nil {
			fmt.Fprintln(os.Stderr, "p2plab conform:", err)
			code = 2
		}
	}
	if cf.htmlPath != "" {
		if err := conform.WriteHTML(cf.htmlPath, rep); err != nil {
			fmt.Fprintln(os.Stderr, "p2plab conform:", err)
			code = 2
		}
	}
	if !conform.Summarize(results).Conforms(cf.strict) {
		return 1
	}
	return code
}
