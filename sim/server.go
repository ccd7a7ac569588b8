package sim

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/netlab"
)

// Server is the handle of the lab's server program. The lab reads it only
// through its admin API (dialled inside the server host, on its loopback).
type Server struct {
	lab  *Lab
	host *netlab.Host

	mu    sync.Mutex
	proc  netlab.Process
	admin *api.Admin
}

// Host is the server's lab host.
func (s *Server) Host() *netlab.Host { return s.host }

// Addr is the address clients dial.
func (s *Server) Addr() netip.AddrPort { return netip.AddrPortFrom(s.host.Addr(), ServerPort) }

// Running reports whether the server process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return running(s.proc)
}

func running(p netlab.Process) bool {
	if p == nil {
		return false
	}
	select {
	case <-p.Done():
		return false
	default:
		return true
	}
}

// adminAddr is where the server's admin API listens: its host's
// loopback (netlab.Host.LoopbackAddr), off the lab LAN.
func (s *Server) adminAddr() netip.AddrPort {
	return netip.AddrPortFrom(s.host.LoopbackAddr(), AdminPort)
}

// HasAdmin reports whether the server offers its admin API: its command
// template uses {admin} (or, for an image run with its own entrypoint,
// the API answered P2PLAB_ADMIN at start).
func (s *Server) HasAdmin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.admin != nil
}

// Admin returns the admin API's address and an HTTP client that reaches
// it from inside the server host (nil if the server has none).
func (s *Server) Admin() (addr string, hc *http.Client) {
	if !s.HasAdmin() {
		return "", nil
	}
	return s.adminAddr().String(), NetOf(s.host).HTTP()
}

// Output returns the last n lines of what the server wrote.
func (s *Server) Output(n int) string { return tailFiles(s.outDir(), n) }

func (s *Server) outDir() string { return filepath.Join(s.lab.artifacts, "server") }

// Start starts the server program and waits until it accepts connections
// (dialled from inside its host) and, if it has one, its admin API
// answers.
func (s *Server) Start(ctx context.Context) error {
	l := s.lab
	if s.Running() {
		return fmt.Errorf("sim: server on %s is already running", s.host.Name())
	}
	ctx, cancel := context.WithTimeout(ctx, l.opts.StartTimeout)
	defer cancel()
	p, err := l.StartProgram(ctx, s.host, Program{Command: l.opts.ServerCommand, Image: l.opts.ServerImage, Output: s.outDir()})
	if err != nil {
		return fmt.Errorf("sim: start server: %w", err)
	}
	hn := NetOf(s.host)
	var admin *api.Admin
	optional := l.opts.ServerImage != "" && l.opts.ServerCommand == ""
	if Uses(l.opts.ServerCommand, "admin") || optional {
		admin = api.NewAdminWithClient(s.adminAddr().String(), hn.HTTP())
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	err = poll(ctx, 50*time.Millisecond, func() error {
		select {
		case <-p.Done():
			return errExited
		default:
		}
		if err := hn.Reachable(ctx, s.Addr()); err != nil {
			return err
		}
		if admin != nil && !optional {
			return admin.Healthz(ctx)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sim: server on %s not ready: %w\n%s", s.host.Name(), err, s.Output(10))
	}
	if optional {
		// An image's own entrypoint may or may not serve P2PLAB_ADMIN:
		// keep the admin API if it answers soon.
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		if poll(actx, 50*time.Millisecond, func() error { return admin.Healthz(actx) }) != nil {
			admin = nil
		}
		acancel()
	}
	s.mu.Lock()
	s.admin = admin
	s.mu.Unlock()
	l.note("server ready on %s (admin: %v)", s.Addr(), admin != nil)
	return nil
}

// Stats reads the admin stats.
func (s *Server) Stats(ctx context.Context) (api.Stats, error) {
	s.mu.Lock()
	a := s.admin
	s.mu.Unlock()
	if a == nil {
		return api.Stats{}, fmt.Errorf("sim: server has no admin API (never started, or its template has no {admin})")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := a.Stats(ctx)
	if err != nil {
		return st, fmt.Errorf("sim: server stats: %w", err)
	}
	return st, nil
}

// Kill sends SIGKILL to the server.
func (s *Server) Kill(ctx context.Context) error {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if !running(p) {
		return fmt.Errorf("sim: server is not running")
	}
	if err := p.Kill(ctx); err != nil {
		return fmt.Errorf("sim: kill server: %w", err)
	}
	return nil
}

// Stop stops the server (SIGTERM, then SIGKILL after 3s).
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if !running(p) {
		return fmt.Errorf("sim: server is not running")
	}
	if err := p.Stop(ctx, 3*time.Second); err != nil && running(p) {
		return fmt.Errorf("sim: stop server: %w", err)
	}
	return nil
}
