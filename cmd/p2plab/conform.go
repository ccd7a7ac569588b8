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
	"strings"
	"time"

	"github.com/p2plab/p2plab/conform"
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
	cmd, image      string
	heartbeat       time.Duration
	misses          int
	verbose         bool
	lab             string
}

func (c *conformFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.list, "list", false, "print the catalogue (ID, level, section, sentence) and exit")
	fs.BoolVar(&c.markdown, "markdown", false, "with --list: print a Markdown table")
	fs.Var(&c.run, "run", "run only requirements matching these globs (repeatable, comma-separated; '*' matches across '/')")
	fs.BoolVar(&c.strict, "strict", false, "SHOULD failures count too")
	fs.StringVar(&c.junit, "junit", "", "write a JUnit XML report to FILE")
	fs.StringVar(&c.jsonPath, "json", "", "write a JSON report to FILE")
	fs.StringVar(&c.cmd, "cmd", "", "command line that starts the implementation (placeholders in braces)")
	fs.StringVar(&c.image, "image", "", "docker image of the implementation (docker backend)")
	fs.DurationVar(&c.heartbeat, "heartbeat", 0, "the implementation's heartbeat interval ({heartbeat}; default 1s with --cmd)")
	fs.IntVar(&c.misses, "misses", 0, "the implementation's heartbeat misses before timeout ({misses}; default 2 with --cmd)")
	fs.BoolVar(&c.verbose, "v", false, "print the target's output after the run")
	fs.StringVar(&c.lab, "lab", "auto", "server --cmd: where to run it: netns (a lab host, root only), loopback, or auto (netns when root, falling back to loopback)")
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

func conformServer(ctx context.Context, cf conformFlags, reqs []conform.Requirement, addr, admin string) int {
	// With --image, --cmd is optional: the container's command line.
	if !exactlyOne(addr, cf.cmd, cf.image) && (cf.image == "" || addr != "") {
		fmt.Fprintln(os.Stderr, "p2plab conform server: give exactly one of --addr, --cmd, --image (with --image, --cmd may give the container's arguments)")
		return 2
	}
	var target conform.ServerTarget
	desc := addr
	if cf.image != "" {
		hb, misses := cf.heartbeat, cf.misses
		if hb == 0 {
			hb = time.Second
		}
		if misses == 0 {
			misses = 2
		}
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, "p2plab conform server:", err)
			return 2
		}
		ls, t, err := conform.StartServerImage(ctx, cf.image, cf.cmd, exe, hb, misses)
		if err != nil {
			fmt.Fprintln(os.Stderr, "p2plab conform server:", err)
			return 2
		}
		defer func() {
			if cf.verbose {
				fmt.Fprintf(os.Stderr, "--- server output ---\n%s", ls.Output())
			}
			if err := ls.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "p2plab conform server: lab close:", err)
			}
		}()
		fmt.Printf("p2plab conform server: image %s runs on a docker lab host at %s\n", cf.image, t.Addr)
		if admin != "" {
			t.Admin = admin
		}
		target, desc = t, cf.image
	} else if addr != "" {
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
		hb, misses := cf.heartbeat, cf.misses
		if hb == 0 {
			hb = time.Second
		}
		if misses == 0 {
			misses = 2
		}
		if !strings.Contains(cf.cmd, "{listen}") {
			fmt.Fprintln(os.Stderr, "p2plab conform server: --cmd needs a {listen} placeholder")
			return 2
		}
		var t conform.ServerTarget
		useLab := cf.lab == "netns" || (cf.lab == "auto" && os.Geteuid() == 0)
		if cf.lab != "auto" && cf.lab != "netns" && cf.lab != "loopback" {
			fmt.Fprintf(os.Stderr, "p2plab conform server: --lab %q: want netns, loopback or auto\n", cf.lab)
			return 2
		}
		started := false
		if useLab {
			ls, lt, err := conform.StartServerInLab(ctx, cf.cmd, hb, misses)
			switch {
			case err == nil:
				defer func() {
					if cf.verbose {
						fmt.Fprintf(os.Stderr, "--- server output ---\n%s", ls.Output())
					}
					if err := ls.Close(); err != nil {
						fmt.Fprintln(os.Stderr, "p2plab conform server: lab close:", err)
					}
				}()
				t, started = lt, true
				fmt.Printf("p2plab conform server: the server runs on a netns lab host at %s\n", t.Addr)
			case cf.lab == "netns":
				fmt.Fprintln(os.Stderr, "p2plab conform server:", err)
				return 2
			default:
				fmt.Fprintf(os.Stderr, "p2plab conform server: lab not available (%v); running the server on loopback\n", err)
			}
		}
		if !started {
			p, lt, err := conform.StartServer(ctx, cf.cmd, hb, misses)
			if err != nil {
				fmt.Fprintln(os.Stderr, "p2plab conform server:", err)
				return 2
			}
			defer func() {
				p.Stop(2 * time.Second)
				if cf.verbose {
					fmt.Fprintf(os.Stderr, "--- server output ---\n%s", p.Output())
				}
			}()
			t = lt
		}
		if !strings.Contains(cf.cmd, "{heartbeat}") && cf.heartbeat == 0 {
			t.Heartbeat, t.Misses = 0, 0 // the checker cannot know them
		}
		if admin != "" {
			t.Admin = admin
		}
		target = t
		desc = cf.cmd
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
	if !conform.Summarize(results).Conforms(cf.strict) {
		return 1
	}
	return code
}
