// Package clienttest starts reference p2plab clients for tests, in the
// style of net/http/httptest: each client runs in-process with its control
// API on a unix socket in t.TempDir(), and is stopped by t.Cleanup.
//
// It is for tests of code that drives clients (the client package itself,
// sim, conform). It is not for production use.
package clienttest

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client"
)

// Client is a running in-process client.
type Client struct {
	// API calls the client's control API over its unix socket.
	API *api.Client
	// C is the client itself.
	C *client.Client
	// Control is the control socket path; LogPath the P2PInfo log file;
	// FilesDir where received files land.
	Control, LogPath, FilesDir string

	cancel context.CancelFunc
	done   chan error
}

// Option changes the Config before the client starts.
type Option func(*client.Config)

// WithHeartbeat sets the heartbeat interval and misses.
func WithHeartbeat(d time.Duration, misses int) Option {
	return func(c *client.Config) { c.Heartbeat, c.Misses = d, misses }
}

// WithConfig applies f to the Config.
func WithConfig(f func(*client.Config)) Option { return Option(f) }

// ReadyTimeout bounds how long New waits for the client to log in.
var ReadyTimeout = 10 * time.Second

// New starts a client for userID against server, waits until it is Ready
// and registers its Close with t.Cleanup. It fails the test if the client
// does not become ready.
func New(t testing.TB, server netip.AddrPort, userID string, opts ...Option) *Client {
	t.Helper()
	dir := t.TempDir()
	// unix socket paths are limited to ~108 bytes: keep the socket short
	sockDir, err := os.MkdirTemp("", "p2pc-")
	if err != nil {
		t.Fatalf("clienttest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	cfg := client.Config{
		Server:   server,
		UserID:   userID,
		UserName: userID,
		LogPath:  filepath.Join(dir, "p2pinfo.log"),
		FilesDir: filepath.Join(dir, "files"),
		Control:  filepath.Join(sockDir, "c.sock"),
		Logger:   slog.New(slog.DiscardHandler),
	}
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatalf("clienttest: new client %s: %v", userID, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Client{C: c, Control: c.ControlAddr(), LogPath: cfg.LogPath, FilesDir: cfg.FilesDir, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- c.Run(ctx) }()
	t.Cleanup(h.Close)
	h.API = api.NewClient(c.ControlAddr())
	select {
	case <-c.Ready():
	case err := <-h.done:
		h.done <- err
		t.Fatalf("clienttest: client %s stopped before ready: %v", userID, err)
	case <-time.After(ReadyTimeout):
		t.Fatalf("clienttest: client %s not ready after %s", userID, ReadyTimeout)
	}
	return h
}

// Close stops the client (it logs out first) and waits for it. It may be
// called more than once.
func (h *Client) Close() {
	h.cancel()
	err := <-h.done
	h.done <- err
	if h.API != nil {
		h.API.Close()
	}
}

// Err waits for the client to stop and returns what Run returned.
func (h *Client) Err() error {
	err := <-h.done
	h.done <- err
	return err
}
