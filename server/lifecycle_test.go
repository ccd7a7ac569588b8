package server_test

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/server"
)

func TestServeStopsOnContext(t *testing.T) {
	srv := server.New(server.Config{})
	ln := mustListen(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	alice := loginAddr(t, addr, "alice")
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Serve did not return after cancel")
	}
	alice.expectClosed()
	if st := srv.Stats(); st.Totals.Connections != 0 || st.Totals.Online != 0 {
		t.Fatalf("after Serve returned: %+v", st.Totals)
	}
}

// TestShutdownSendsNoOfflineNotices: a server that stops closes every
// connection without telling anybody that the others went offline
// (docs/protocol.md 5.12), so clients keep their P2P channels (6.9).
func TestShutdownSendsNoOfflineNotices(t *testing.T) {
	for _, how := range []string{"context", "Close"} {
		t.Run(how, func(t *testing.T) {
			srv := server.New(server.Config{})
			ln := mustListen(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ctx, ln) }()
			addr := ln.Addr().(*net.TCPAddr).AddrPort()
			alice := loginAddr(t, addr, "alice")
			bob := loginAddr(t, addr, "bob")
			alice.expectNotify("bob", true)
			if how == "context" {
				cancel() // as SIGTERM does in p2plab server
			} else {
				srv.Close()
			}
			// expectClosed fails on any frame but a Heartbeat: no
			// UserStateNotify offline for the other user, no Error.
			alice.expectClosed()
			bob.expectClosed()
			if err := <-served; err != nil {
				t.Fatalf("Serve: %v", err)
			}
		})
	}
}

// TestNoGoroutinesLeft runs every kind of connection ending and checks that
// stopping the server leaves no goroutine behind.
func TestNoGoroutinesLeft(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		s := newServer(t, server.Config{QueueLen: 4, ReadTimeout: 200 * time.Millisecond})
		alice := login(t, s, "alice")
		bob := login(t, s, "bob")
		alice.expectNotify("bob", true)
		bob.send(protocol.Frame{Type: protocol.TypeLogout}, 0)
		bob.expectClosed()
		bad := login(t, s, "bad")
		bad.sendPayload("nope")
		bad.expectError(protocol.CodeBadFrame, 0)
		staller := dial(t, s)
		staller.sendRaw([]byte{0, 0})
		staller.expectError(protocol.CodeBadFrame, 0)
		gone := login(t, s, "gone")
		gone.nc.Close()
		s.Close()
		alice.nc.SetReadDeadline(time.Now().Add(wait))
		for { // notices, then the end of the stream
			if _, err := alice.r.ReadFrame(); err != nil {
				break
			}
		}
		for _, p := range []*peer{alice, bob, bad, staller} {
			p.nc.Close()
		}
		s.Admin.Close()
	}()
	eventually(t, "goroutines back to the baseline", func() bool {
		return runtime.NumGoroutine() <= before
	})
}
