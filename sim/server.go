package sim

import (
	"context"
	"fmt"
	"net/netip"
	"os"
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

// Start starts the server program and waits until it accepts connections
// and its admin API answers.
func (s *Server) Start(ctx context.Context) error {
	l := s.lab
	if s.Running() {
		return fmt.Errorf("sim: server on %s is already running", s.host.Name())
	}
	ctx, cancel := context.WithTimeout(ctx, l.opts.StartTimeout)
	defer cancel()
	argv, err := expand(l.opts.ServerCommand, l.vars(s.host))
	if err != nil {
		return err
	}
	dir := filepath.Join(l.artifacts, "server")
	os.MkdirAll(dir, 0o755)
	l.progress("  start server on %s: %v", s.host.Name(), argv)
	p, err := s.host.Start(ctx, netlab.Command{Argv: argv, Stdout: filepath.Join(dir, "stdout.log"), Stderr: filepath.Join(dir, "stderr.log")})
	if err != nil {
		return fmt.Errorf("sim: start server on %s: %w", s.host.Name(), err)
	}
	adminAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), AdminPort)
	admin := api.NewAdminWithClient(adminAddr.String(), adminHTTP(s.host))
	s.mu.Lock()
	s.proc, s.admin = p, admin
	s.mu.Unlock()
	err = poll(ctx, 50*time.Millisecond, func() error {
		select {
		case <-p.Done():
			return errExited
		default:
		}
		if err := dialInside(ctx, s.host, s.Addr()); err != nil {
			return err
		}
		return admin.Healthz(ctx)
	})
	if err != nil {
		return fmt.Errorf("sim: server on %s not ready: %w\n%s", s.host.Name(), err, tailFiles(dir, 10))
	}
	l.note("server ready on %s (admin %s inside the host)", s.Addr(), adminAddr)
	return nil
}

// Stats reads the admin stats.
func (s *Server) Stats(ctx context.Context) (api.Stats, error) {
	s.mu.Lock()
	a := s.admin
	s.mu.Unlock()
	if a == nil {
		return api.Stats{}, fmt.Errorf("sim: server was never started")
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
