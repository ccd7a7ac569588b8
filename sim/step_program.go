package sim

import (
	"context"
	"fmt"
	"strings"
)

// Program steps: start, stop, kill, login, logout (docs/scenarios.md,
// Programs).

// nameList is the hosts or users a step acts on, in order.
type nameList struct {
	Names []string `json:"names"`
}

func (n nameList) describe(kind string) string { return kind + " " + strings.Join(n.Names, ", ") }

// hostNames reads a host name or a list of them (at least one).
func (v *validator) hostNames(n node) nameList {
	var out nameList
	for _, it := range n.seq(true) {
		if name, ok := it.str(); ok && v.isHost(it, name) {
			out.Names = append(out.Names, name)
		}
	}
	if len(out.Names) == 0 && len(v.e.list) == 0 {
		v.e.add(n, "name at least one host")
	}
	return out
}

// clientNames reads a client name or a list of them (at least one).
func (v *validator) clientNames(n node) nameList {
	var out nameList
	for _, it := range n.seq(true) {
		if name, ok := it.str(); ok && v.isClient(it, name) {
			out.Names = append(out.Names, name)
		}
	}
	if len(out.Names) == 0 && len(v.e.list) == 0 {
		v.e.add(n, "name at least one client")
	}
	return out
}

// StartStep starts the server and/or clients, in order, each waiting until
// ready.
type StartStep struct {
	stepBase
	nameList
}

func readStart(v *validator, n node) Step { return &StartStep{nameList: v.hostNames(n)} }

// Kind is "start".
func (*StartStep) Kind() string     { return StepStart }
func (s *StartStep) String() string { return s.describe(StepStart) }

func (s *StartStep) run(ctx context.Context, rn *runner) (string, error) {
	for _, n := range s.Names {
		if err := rn.program(n).start(ctx); err != nil {
			return "", err
		}
	}
	return "", nil
}

// LoginStep starts a session of each client: a running client is stopped
// first, so it logs in again as a new session.
type LoginStep struct {
	stepBase
	nameList
}

func readLogin(v *validator, n node) Step { return &LoginStep{nameList: v.clientNames(n)} }

// Kind is "login".
func (*LoginStep) Kind() string     { return StepLogin }
func (s *LoginStep) String() string { return s.describe(StepLogin) }

func (s *LoginStep) run(ctx context.Context, rn *runner) (string, error) {
	for _, n := range s.Names {
		c := rn.lab.Client(n)
		if c.Running() {
			if err := c.Stop(ctx); err != nil {
				return "", err
			}
		}
		if err := c.Start(ctx); err != nil {
			return "", err
		}
	}
	return "", nil
}

// StopStep stops programs cleanly (a client's POST /v1/quit, the server's
// SIGTERM) and waits for them to exit.
type StopStep struct {
	stepBase
	nameList
}

func readStop(v *validator, n node) Step { return &StopStep{nameList: v.hostNames(n)} }

// Kind is "stop".
func (*StopStep) Kind() string     { return StepStop }
func (s *StopStep) String() string { return s.describe(StepStop) }

func (s *StopStep) run(ctx context.Context, rn *runner) (string, error) {
	for _, n := range s.Names {
		if err := rn.program(n).stop(ctx); err != nil {
			return "", err
		}
	}
	return "", nil
}

// KillStep sends SIGKILL to programs.
type KillStep struct {
	stepBase
	nameList
}

func readKill(v *validator, n node) Step { return &KillStep{nameList: v.hostNames(n)} }

// Kind is "kill".
func (*KillStep) Kind() string     { return StepKill }
func (s *KillStep) String() string { return s.describe(StepKill) }

func (s *KillStep) run(ctx context.Context, rn *runner) (string, error) {
	for _, n := range s.Names {
		if err := rn.program(n).kill(ctx); err != nil {
			return "", err
		}
	}
	return "", nil
}

// LogoutStep asks clients to log out (POST /v1/logout).
type LogoutStep struct {
	stepBase
	nameList
}

func readLogout(v *validator, n node) Step { return &LogoutStep{nameList: v.clientNames(n)} }

// Kind is "logout".
func (*LogoutStep) Kind() string     { return StepLogout }
func (s *LogoutStep) String() string { return s.describe(StepLogout) }

func (s *LogoutStep) run(ctx context.Context, rn *runner) (string, error) {
	for _, n := range s.Names {
		if err := rn.lab.Client(n).Logout(ctx); err != nil {
			return "", fmt.Errorf("logout %s: %w", n, err)
		}
	}
	return "", nil
}

// program is what start, stop and kill do to the program of a host.
type program interface {
	start(ctx context.Context) error
	stop(ctx context.Context) error
	kill(ctx context.Context) error
}

// program returns the program of host name: the server, a client, or none.
func (rn *runner) program(name string) program {
	if name == rn.s.Server {
		return serverProgram{rn.lab.server}
	}
	if c := rn.lab.Client(name); c != nil {
		return clientProgram{c}
	}
	return noProgram(name)
}

type serverProgram struct{ s *Server }

func (p serverProgram) start(ctx context.Context) error { return p.s.Start(ctx) }
func (p serverProgram) stop(ctx context.Context) error  { return p.s.Stop(ctx) }
func (p serverProgram) kill(ctx context.Context) error  { return p.s.Kill(ctx) }

type clientProgram struct{ c *Client }

func (p clientProgram) start(ctx context.Context) error { return p.c.Start(ctx) }
func (p clientProgram) stop(ctx context.Context) error  { return p.c.Stop(ctx) }
func (p clientProgram) kill(ctx context.Context) error  { return p.c.Kill(ctx) }

// noProgram is a host that runs no program (a router, or a host that is
// neither the server nor a client).
type noProgram string

func (p noProgram) err() error                  { return fmt.Errorf("%q runs no program", string(p)) }
func (p noProgram) start(context.Context) error { return p.err() }
func (p noProgram) stop(context.Context) error  { return p.err() }
func (p noProgram) kill(context.Context) error  { return p.err() }
