package server_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/server"
)

// expectNotify reads the next frame, which must be UserStateNotify for user.
func (p *peer) expectNotify(user string, online bool) protocol.UserStateNotify {
	p.t.Helper()
	var n protocol.UserStateNotify
	decode(p.t, p.expect(protocol.TypeUserStateNotify), &n)
	if n.UserID != user || n.OnLine != online {
		p.t.Fatalf("%s: notify %+v, want %s online=%v", p.user, n, user, online)
	}
	return n
}

func TestStateNotifyOnLogin(t *testing.T) {
	s := newServer(t, server.Config{})
	alice := login(t, s, "alice")
	carol := login(t, s, "carol")
	alice.expectNotify("carol", true)
	bob := login(t, s, "bob")
	local := bob.nc.LocalAddr().(*net.TCPAddr).AddrPort()
	for _, p := range []*peer{alice, carol} {
		n := p.expectNotify("bob", true)
		if n.IP != local.Addr().String() || n.Port != int(local.Port()) {
			t.Fatalf("%s: notify %+v, want endpoint %s", p.user, n, local)
		}
	}
	bob.expectSilent(100 * time.Millisecond) // not told about itself
}

func TestStateNotifyOffline(t *testing.T) {
	tests := []struct {
		name  string
		leave func(p *peer)
	}{
		{"logout", func(p *peer) {
			p.send(protocol.Frame{Type: protocol.TypeLogout}, 0)
			p.expectClosed()
		}},
		{"disconnect", func(p *peer) { p.nc.Close() }},
		{"reset", func(p *peer) {
			p.nc.SetLinger(0)
			p.nc.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, server.Config{})
			alice := login(t, s, "alice")
			bob := login(t, s, "bob")
			alice.expectNotify("bob", true)
			tt.leave(bob)
			n := alice.expectNotify("bob", false)
			if n.IP != "" || n.Port != 0 {
				t.Fatalf("offline notice carries an endpoint: %+v", n)
			}
			if u, _ := s.S.Stats().User("bob"); u.Online {
				t.Fatalf("bob still online in stats")
			}
			// bob may log in again.
			login(t, s, "bob")
			alice.expectNotify("bob", true)
		})
	}
}

func TestHeartbeatTimeout(t *testing.T) {
	const hb, misses = 200 * time.Millisecond, 3
	s := newServer(t, server.Config{Heartbeat: hb, Misses: misses})
	alice := login(t, s, "alice")
	stop := keepAlive(t, alice, hb)
	defer stop()

	silent := login(t, s, "silent") // logs in, then never sends again
	start := time.Now()
	alice.expectNotify("silent", true)
	alice.expectNotify("silent", false)
	if took := time.Since(start); took > hb*(misses+1) {
		t.Fatalf("silent client detected after %v, want within %v", took, hb*(misses+1))
	}
	silent.expectClosed()
	if s.S.Stats().Totals.Online != 1 {
		t.Fatalf("stats %+v", s.S.Stats().Totals)
	}
}

func TestAnyFrameIsLiveness(t *testing.T) {
	const hb, misses = 100 * time.Millisecond, 3
	s := newServer(t, server.Config{Heartbeat: hb, Misses: misses})
	bob := login(t, s, "bob")
	stopBob := keepAlive(t, bob, hb)
	defer stopBob()
	alice := login(t, s, "alice")
	// alice sends only GetP2PInfo, never a heartbeat, for well over
	// misses*heartbeat; she must stay online.
	deadline := time.Now().Add(3 * misses * hb)
	for time.Now().Before(deadline) {
		alice.send(protocol.Frame{Type: protocol.TypeGetP2PInfo}, 1)
		alice.expect(protocol.TypeResP2pInfo)
		tick := time.NewTimer(hb)
		<-tick.C
	}
	if u, _ := s.S.Stats().User("alice"); !u.Online {
		t.Fatal("alice went offline although she kept sending frames")
	}
}

func TestHeartbeats(t *testing.T) {
	const hb = 100 * time.Millisecond
	s := newServer(t, server.Config{Heartbeat: hb, Misses: 20})
	alice := login(t, s, "alice")
	for _, id := range []int64{5, 6} {
		alice.send(protocol.Frame{Type: protocol.TypeHeartbeat}, id)
		alice.nc.SetReadDeadline(time.Now().Add(wait))
		for {
			f, err := alice.r.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			if f.Type == protocol.TypeHeartbeatAck {
				if f.Re != id {
					t.Fatalf("HeartbeatAck re %d, want %d", f.Re, id)
				}
				break
			}
		}
	}
	// The server sends its own heartbeats, each with an id, every interval.
	alice.nc.SetReadDeadline(time.Now().Add(wait))
	var ids []int64
	start := time.Now()
	for len(ids) < 3 {
		f, err := alice.r.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if f.Type != protocol.TypeHeartbeat || f.ID < 1 {
			t.Fatalf("got %+v, want a server Heartbeat with an id", f)
		}
		ids = append(ids, f.ID)
		alice.send(protocol.Frame{Type: protocol.TypeHeartbeatAck, Re: f.ID}, 0)
	}
	if took := time.Since(start); took > 10*hb {
		t.Fatalf("3 server heartbeats took %v at a %v interval", took, hb)
	}
	if ids[0] == ids[1] || ids[1] == ids[2] {
		t.Fatalf("heartbeat ids repeat: %v", ids)
	}
}

func TestServerCloseDropsEveryone(t *testing.T) {
	s := newServer(t, server.Config{})
	alice := login(t, s, "alice")
	bob := login(t, s, "bob")
	alice.expectNotify("bob", true)
	s.Close()
	alice.expectClosed()
	bob.expectClosed()
	if _, err := net.DialTimeout("tcp", s.Addr.String(), time.Second); err == nil {
		t.Fatal("server still accepts after Close")
	}
	if err := s.S.Serve(context.Background(), mustListen(t)); err != server.ErrServerClosed {
		t.Fatalf("Serve after Close: %v", err)
	}
}

func mustListen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// keepAlive sends a frame (a HeartbeatAck, which needs no answer) from p
// every interval until stopped, so that p stays alive without the test
// having to read answers.
func keepAlive(t *testing.T, p *peer, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				b, _ := protocol.Marshal(protocol.Frame{Type: protocol.TypeHeartbeatAck}) // liveness without a reply
				p.nc.SetWriteDeadline(time.Now().Add(wait))
				if _, err := p.nc.Write(b); err != nil {
					return
				}
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}
