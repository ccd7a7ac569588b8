package conform

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/sim"
)

// The checker runs programs under test in a lab of package sim: it has no
// lab code of its own. LabOptions say which lab and which program.
type LabOptions struct {
	// Backend is a registered netlab backend: "netns" (needs root),
	// "local" (needs nothing: hosts share this machine's namespace on
	// loopback addresses of their own) or "docker" (needs a program that
	// imports netlab/docker, and a Docker engine).
	Backend string
	// Command is the program's command template (sim.Expand's rules and
	// placeholders); with Image it may be empty (the image's entrypoint).
	Command string
	// Image, on the docker backend, runs the program in this image.
	Image string
	// Binary is the p2plab binary the lab's own programs run (the
	// reference server; default: this program).
	Binary string
	// Heartbeat and Misses are the settings given to the program under
	// test (defaults 1s and 2 for a server, 500ms and 3 for clients).
	Heartbeat time.Duration
	Misses    int
	// Server, for client checks only, is a reference server already
	// running (reachable from the lab's hosts: the local backend); the lab
	// then starts none.
	Server netip.AddrPort
	// Artifacts is the folder that keeps what the run leaves: each
	// program's output (stdout.log, stderr.log under the host's name, or
	// cut/<user> for clients under test), the lab's timeline and, for
	// client checks, each check's folder checks/<n> (its P2PInfo log,
	// received files, the client's events.json; n counts the selected
	// requirements from 0). Close keeps it. Empty: a temporary folder that
	// Close removes.
	Artifacts string
	// OnOutput, for client checks, receives each client's output when it
	// stops (nil: dropped).
	OnOutput func(user, output string)
	// Progress receives a line per thing the lab does (nil: silent).
	Progress interface{ Write([]byte) (int, error) }
}

// Lab is a running lab with a program under test in it. Close it.
type Lab struct {
	lab    *sim.Lab
	art    string // the artifacts folder
	ownArt bool   // art is a temporary folder Close removes
	// copyChecks, if set, is the checks' folder on the lab host that Close
	// copies to art/checks (where the checks could not run in art).
	copyChecks string
}

// outputLines is how much of a program's output Output shows.
const outputLines = 40

// The heartbeat settings a lab gives a --cmd or --image program when
// LabOptions leaves them zero ({heartbeat} and {misses}; docs/conformance.md,
// "Other flags"; p2plab conform's --help prints them).
const (
	DefaultServerHeartbeat = time.Second
	DefaultServerMisses    = 2
	DefaultClientHeartbeat = 500 * time.Millisecond
	DefaultClientMisses    = 3
)

// hostNames are the lab's hosts: the program under test, the reference
// server (client checks) and the checker's own connections and fake peers.
const (
	hostSUT     = "sut"
	hostServer  = "server"
	hostCUT     = "cut"
	hostChecker = "checker"
)

// startLab brings up one LAN with hosts on o.Backend; nothing starts.
func startLab(ctx context.Context, o LabOptions, hosts []string, server string, so sim.Options) (*Lab, error) {
	art, own := o.Artifacts, o.Artifacts == ""
	var err error
	if own {
		art, err = os.MkdirTemp("", "p2plab-conform-")
	} else {
		art, err = filepath.Abs(art)
		if err == nil {
			err = os.MkdirAll(art, 0o755)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("conform: artifacts: %w", err)
	}
	topo := netlab.Topology{LANs: []netlab.LAN{{Name: "lan", Subnet: netip.MustParsePrefix("198.18.1.0/24")}}}
	for _, h := range hosts {
		topo.Hosts = append(topo.Hosts, netlab.HostSpec{Name: h, NICs: []netlab.NIC{{LAN: "lan"}}})
	}
	so.Backend, so.Topology, so.Server, so.Clients = o.Backend, topo, server, []string{}
	so.Binary, so.Artifacts, so.Manual = o.Binary, art, true
	if o.Progress != nil {
		so.Progress = o.Progress
	}
	l, err := sim.Start(ctx, so)
	if err != nil {
		if own {
			os.RemoveAll(art)
		}
		return nil, fmt.Errorf("conform: %w", err)
	}
	return &Lab{lab: l, art: art, ownArt: own}, nil
}

// Output returns the last lines the lab's server (the server under test,
// or the reference server) wrote.
func (l *Lab) Output() string { return l.lab.Server().Output(outputLines) }

// Artifacts is the lab's artifacts folder (LabOptions.Artifacts).
func (l *Lab) Artifacts() string { return l.art }

// Close stops every program and removes the lab; it keeps the artifacts
// folder unless it is a temporary one.
func (l *Lab) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	if l.copyChecks != "" {
		if err := os.CopyFS(filepath.Join(l.art, "checks"), regularFiles(l.copyChecks)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("conform: keep the checks' folders: %w", err))
		}
	}
	errs = append(errs, l.lab.Close(ctx))
	if l.ownArt {
		errs = append(errs, os.RemoveAll(l.art))
	}
	return errors.Join(errs...)
}

// regularFiles is the tree at dir without what os.CopyFS cannot copy
// (control sockets).
func regularFiles(dir string) fs.FS { return onlyRegular{os.DirFS(dir)} }

// onlyRegular lists only directories and regular files.
type onlyRegular struct{ fs.FS }

func (o onlyRegular) ReadDir(name string) ([]fs.DirEntry, error) {
	des, err := fs.ReadDir(o.FS, name)
	out := des[:0]
	for _, d := range des {
		if d.IsDir() || d.Type().IsRegular() {
			out = append(out, d)
		}
	}
	return out, err
}

// maxChecksDir bounds the checks' folder path: a control socket inside it
// (<n>/ctl.sock) must fit a unix socket address (108 bytes on Linux).
const maxChecksDir = 90

// StartServerLab starts the server under test (o.Command, o.Image) on host
// "sut" of a new lab, waits until it accepts connections (and its admin API
// answers, if its template uses {admin}) and returns the target, whose
// connections are dialled from host "checker". A program that cannot start
// or exits is reported with its output.
func StartServerLab(ctx context.Context, o LabOptions) (*Lab, ServerTarget, error) {
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultServerHeartbeat
	}
	if o.Misses <= 0 {
		o.Misses = DefaultServerMisses
	}
	l, err := startLab(ctx, o, []string{hostSUT, hostChecker}, hostSUT, sim.Options{
		ServerCommand: o.Command, ServerImage: o.Image, Heartbeat: o.Heartbeat, Misses: o.Misses,
	})
	if err != nil {
		return nil, ServerTarget{}, err
	}
	srv := l.lab.Server()
	if err := srv.Start(ctx); err != nil {
		l.Close()
		return nil, ServerTarget{}, fmt.Errorf("conform: the server under test: %w", err)
	}
	t := ServerTarget{Addr: srv.Addr(), Heartbeat: o.Heartbeat, Misses: o.Misses, In: l.lab.Host(hostChecker).Do}
	t.Admin, t.AdminHTTP = srv.Admin()
	return l, t, nil
}

// StartClientLab brings up a lab for client checks: the reference server
// (this binary's "server", unless o.Server names one) on host "server",
// each client under test started from o.Command (or o.Image) on host
// "cut", and the fake peers on host "checker".
func StartClientLab(ctx context.Context, o LabOptions) (*Lab, ClientTarget, error) {
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultClientHeartbeat
	}
	if o.Misses <= 0 {
		o.Misses = DefaultClientMisses
	}
	l, err := startLab(ctx, o, []string{hostServer, hostCUT, hostChecker}, hostServer, sim.Options{
		ClientCommand: o.Command, ClientImage: o.Image, Heartbeat: time.Second, Misses: 3,
		ServerCommand: "{bin} server --listen {listen} --heartbeat {heartbeat} --misses {misses}",
	})
	if err != nil {
		return nil, ClientTarget{}, err
	}
	server := o.Server
	if !server.IsValid() {
		if err := l.lab.Server().Start(ctx); err != nil {
			l.Close()
			return nil, ClientTarget{}, fmt.Errorf("conform: the reference server: %w", err)
		}
		server = l.lab.Server().Addr()
	}
	cut := l.lab.Host(hostCUT)
	start := func(ctx context.Context, run ClientRun) (func(), error) {
		vars := map[string]string{
			"server": run.Server.String(), "user": run.User, "name": run.User, "control": cut.Path(run.Control),
			"log": cut.Path(run.Log), "files": cut.Path(run.Files),
			"heartbeat": run.Heartbeat.String(), "misses": strconv.Itoa(run.Misses),
		}
		out := filepath.Join(l.art, "cut", run.User)
		p, err := l.lab.StartProgram(ctx, cut, sim.Program{Command: o.Command, Image: o.Image, Vars: vars, Output: out})
		if err != nil {
			return nil, fmt.Errorf("conform: the client under test: %w", err)
		}
		return func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = p.Stop(sctx, 2*time.Second)
			if o.OnOutput != nil {
				o.OnOutput(run.User, sim.Output(out, outputLines))
			}
		}, nil
	}
	// The checks' folders live in the artifacts, so the paths that failure
	// messages name are still there after the run; where the client host
	// does not see the artifacts (a container sees only its host's own
	// directory, elsewhere) or the path is too long for a socket, in the
	// host's directory, copied to the artifacts on Close.
	dir := filepath.Join(cut.Dir(), "conform")
	inArt := filepath.Join(l.art, "checks")
	if !l.ownArt {
		if cut.Path(cut.Dir()) == cut.Dir() && len(inArt) <= maxChecksDir {
			dir = inArt
		} else {
			l.copyChecks = dir
		}
	}
	t := ClientTarget{Start: start, Server: server, Heartbeat: o.Heartbeat, Misses: o.Misses,
		Net: sim.NetOf(l.lab.Host(hostChecker)), Dir: dir, Path: cut.Path}
	return l, t, nil
}
