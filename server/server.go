package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Server. The zero value gives the defaults.
type Config struct {
	// Heartbeat is the heartbeat interval: the server sends a Heartbeat to
	// every logged-in client this often. Default 1s.
	Heartbeat time.Duration
	// Misses is how many heartbeat intervals a connection may stay silent
	// (no complete frame received) before it is dead. Default 3.
	Misses int
	// QueueLen is how many outbound frames may wait per connection before
	// the connection is cut with Error slow_consumer. Default 1024.
	QueueLen int
	// QueueBytes bounds the bytes of those frames (queued or being
	// written): a frame that would pass it cuts the connection with
	// slow_consumer too (docs/protocol.md 5.10). Default 16 MiB.
	QueueBytes int
	// MaxPending bounds the connections that have not logged in yet
	// (docs/protocol.md 5.1): a connection accepted beyond it is closed at
	// once and counted (pendingRefused in the admin stats). Default 256.
	MaxPending int
	// MaxOffline bounds the offline users whose counters are kept: beyond
	// it the one offline longest is forgotten (docs/protocol.md 8.2).
	// Default 10,000.
	MaxOffline int
	// ReadTimeout is the longest a started frame may take to arrive in
	// full. Default Heartbeat*(Misses+1), so a stalled half frame is cut on
	// about the same clock as a silent connection.
	ReadTimeout time.Duration
	// Logger receives the server's log; nil discards it.
	Logger *slog.Logger
	// Version1 makes the server speak protocol version 1 only: it ignores
	// the v1.1 members of Login, sends none, serves no UDP and refuses the
	// v1.1 frames as unknown types (docs/protocol.md 9.2).
	Version1 bool
	// NoUDP turns the UDP rendezvous off (docs/protocol.md 9.5).
	NoUDP bool
}

func (c Config) withDefaults() Config {
	if c.Heartbeat <= 0 {
		c.Heartbeat = time.Second
	}
	if c.Misses <= 0 {
		c.Misses = 3
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 1024
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = 16 << 20
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 256
	}
	if c.MaxOffline <= 0 {
		c.MaxOffline = 10000
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = c.Heartbeat * time.Duration(c.Misses+1)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("server: closed")

// Server is the reference server. Create it with New; it is safe for
// concurrent use.
type Server struct {
	cfg  Config
	log  *slog.Logger
	idle time.Duration // Heartbeat * Misses

	mu      sync.RWMutex
	online  map[string]*conn      // userID -> its logged-in connection
	users   map[string]*userStats // every user seen
	conns   map[*conn]struct{}
	pending atomic.Int64 // connections not logged in yet (Config.MaxPending)
	lns     map[net.Listener]struct{}
	closed  bool
	serveID int

	udpServing atomic.Int32 // UDP rendezvous sockets being served
	udpOnce    sync.Once
	udpSettled chan struct{} // closed once the first Serve has its UDP socket, or none
	m          metrics
}

// New returns a Server with cfg (zero fields take their defaults).
func New(cfg Config) *Server {
	cfg = cfg.withDefaults()
	return &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		idle:   cfg.Heartbeat * time.Duration(cfg.Misses),
		online: map[string]*conn{},
		users:  map[string]*userStats{},
		conns:  map[*conn]struct{}{},
		lns:    map[net.Listener]struct{}{},

		udpSettled: make(chan struct{}),
	}
}

// UDPSettled is closed once the first Serve has started serving its UDP
// rendezvous socket (docs/protocol.md 9.5), or has found it will serve none
// (version 1, NoUDP, the port taken). Tests wait on it so that every
// goroutine of a started server exists.
func (s *Server) UDPSettled() <-chan struct{} { return s.udpSettled }

// Serve accepts connections on ln and serves them until ctx is done or
// Close is called; it then closes ln and every connection it accepted, waits
// for their goroutines, and returns nil. It returns ErrServerClosed if the
// server was already closed, and a wrapped error if accepting fails for
// good.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.serveID++
	id := s.serveID
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	stopUDP := s.startUDP(ctx, ln)
	defer stopUDP()

	var wg sync.WaitGroup
	err := s.accept(ctx, ln, id, &wg)

	ln.Close()
	s.mu.Lock()
	delete(s.lns, ln)
	for c := range s.conns {
		if c.serveID == id {
			c.nc.Close()
		}
	}
	s.mu.Unlock()
	wg.Wait()
	return err
}

func (s *Server) accept(ctx context.Context, ln net.Listener, id int, wg *sync.WaitGroup) error {
	backoff := time.Duration(0)
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || s.isClosed() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Probably transient (e.g. out of file descriptors): back off.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
			continue
		}
		backoff = 0
		if s.pending.Add(1) > int64(s.cfg.MaxPending) {
			// docs/protocol.md 5.1: bounded before login
			s.pending.Add(-1)
			s.m.pendingRefused.Add(1)
			s.log.Debug("connection refused: too many not logged in", "remote", nc.RemoteAddr(), "max", s.cfg.MaxPending)
			nc.Close()
			continue
		}
		c := newConn(s, nc, id)
		c.pending.Store(true)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.loginDone()
			nc.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.serve()
		}()
	}
}

func (s *Server) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// Close stops the server at once, as a crash would: it closes every listener
// and every connection (no Logout notices beyond those disconnects cause).
// Serve calls return after their connections' goroutines have finished.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for ln := range s.lns {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("server: close listener %s: %w", ln.Addr(), err))
		}
	}
	for c := range s.conns {
		c.nc.Close()
	}
	return errors.Join(errs...)
}

func (s *Server) removeConn(c *conn) {
	c.loginDone()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}
