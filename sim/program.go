package sim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// Program says how to start one program on a lab host.
type Program struct {
	// Command is the command template (see Expand); with Image it may be
	// empty (the image's own entrypoint runs).
	Command string
	// Image, on the docker backend only, runs the program in this image.
	Image string
	// Vars are placeholders on top of the lab's own (see Lab.Vars).
	Vars map[string]string
	// Args, if set, are words for {client_args} (Options.ClientArgs' rules);
	// nil leaves {client_args} without a value.
	Args []string
	// Output is the directory that receives stdout.log and stderr.log
	// (created; default: the artifacts folder's <host>).
	Output string
}

// Vars is the placeholders the lab fills for any program on h: bin,
// listen, listen_ip, port, admin, server, heartbeat, misses and dir.
func (l *Lab) Vars(h *netlab.Host) map[string]string { return l.vars(h) }

// StartProgram starts p on h. Every placeholder's value is also in the
// program's environment as P2PLAB_<NAME>. The lab stops it on Close.
func (l *Lab) StartProgram(ctx context.Context, h *netlab.Host, p Program) (netlab.Process, error) {
	vars := l.vars(h)
	maps.Copy(vars, p.Vars)
	if p.Args != nil {
		vars[ArgsPlaceholder] = strings.Join(p.Args, " ")
	}
	cmd := netlab.Command{Image: p.Image, Env: env(vars)}
	if p.Command != "" || p.Image == "" {
		argv, err := expand(p.Command, vars, p.Args)
		if err != nil {
			return nil, err
		}
		cmd.Argv = argv
	}
	dir := p.Output
	if dir == "" {
		dir = filepath.Join(l.artifacts, h.Name())
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sim: output of a program on %s: %w", h.Name(), err)
	}
	cmd.Stdout, cmd.Stderr = filepath.Join(dir, "stdout.log"), filepath.Join(dir, "stderr.log")
	what := cmd.Argv
	if len(what) == 0 {
		what = []string{"image " + p.Image}
	}
	l.progress("  start on %s: %v", h.Name(), what)
	proc, err := h.Start(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("sim: start %s on %s: %w", what[0], h.Name(), err)
	}
	return proc, nil
}

// Output returns the last n lines of each log a program wrote to dir (its
// Program.Output), for error reports.
func Output(dir string, n int) string { return tailFiles(dir, n) }

// errNotYet is what Poll's adapter gives poll for "not done yet".
var errNotYet = errors.New("not yet")

// Poll calls fn every interval until it reports done, returns an error
// (which ends the wait and is returned), or ctx ends (the error then wraps
// ctx's). It is the lab's one polling loop (poll), for callers outside sim.
func Poll(ctx context.Context, interval time.Duration, fn func() (done bool, err error)) error {
	var fatal error
	err := poll(ctx, interval, func() error {
		done, err := fn()
		switch {
		case err != nil:
			fatal = err
			return errExited // stops poll
		case done:
			return nil
		}
		return errNotYet
	})
	if fatal != nil {
		return fatal
	}
	return err
}
