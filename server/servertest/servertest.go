// Package servertest starts a reference server on loopback for tests, in the
// style of net/http/httptest: one call gives a running server, its wire and
// admin addresses and an admin API client, and stops it at the end of the
// test. It is for tests only, never for production use.
package servertest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/server"
)

// Server is a reference server running on 127.0.0.1.
type Server struct {
	// Addr is the wire protocol address (127.0.0.1 and a free port).
	Addr netip.AddrPort
	// AdminAddr is the admin HTTP address.
	AdminAddr netip.AddrPort
	// Admin calls the admin API.
	Admin *api.Admin
	// S is the server itself.
	S *server.Server

	cancel    context.CancelFunc
	served    chan error
	adminHTTP *http.Server
	adminDone chan error
	once      sync.Once
	t         testing.TB
}

// NewServer starts a server with cfg on 127.0.0.1:0 and its admin API on
// another 127.0.0.1:0, and registers Close with t.Cleanup. If cfg.Logger is
// nil the server logs nothing.
func NewServer(t testing.TB, cfg server.Config) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("servertest: listen: %v", err)
	}
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		t.Fatalf("servertest: listen admin: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		Addr:      ln.Addr().(*net.TCPAddr).AddrPort(),
		AdminAddr: aln.Addr().(*net.TCPAddr).AddrPort(),
		S:         server.New(cfg),
		cancel:    cancel,
		served:    make(chan error, 1),
		adminDone: make(chan error, 1),
		t:         t,
	}
	s.Admin = api.NewAdmin(s.AdminAddr.String())
	s.adminHTTP = &http.Server{Handler: s.S.AdminHandler()}
	t.Cleanup(s.Close)
	go func() { s.served <- s.S.Serve(ctx, ln) }()
	go func() { s.adminDone <- s.adminHTTP.Serve(aln) }()
	// Every goroutine of the server exists when NewServer returns (leak
	// checks count them), the UDP rendezvous one included.
	select {
	case <-s.S.UDPSettled():
	case <-time.After(10 * time.Second):
		t.Fatalf("servertest: the server did not start serving UDP within 10s")
	}
	return s
}

// Close stops the server like a crash: listeners and all connections are
// closed at once. It waits until every server goroutine has finished. It is
// safe to call more than once.
func (s *Server) Close() {
	s.once.Do(func() {
		s.S.Close()
		s.cancel()
		if err := <-s.served; err != nil {
			s.t.Errorf("servertest: Serve: %v", err)
		}
		s.adminHTTP.Close()
		if err := <-s.adminDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.t.Errorf("servertest: admin Serve: %v", err)
		}
		s.Admin.Close()
	})
}
