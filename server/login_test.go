package server_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/server"
)

func TestFirstFrameMustBeLogin(t *testing.T) {
	s := newServer(t, server.Config{})
	tests := []struct {
		name string
		f    protocol.Frame
		id   int64
	}{
		{"GetP2PInfo", protocol.Frame{Type: protocol.TypeGetP2PInfo}, 4},
		{"Heartbeat", protocol.Frame{Type: protocol.TypeHeartbeat}, 0},
		{"ChatMessage", chat("a", "b", "m1", "hi"), 9},
		{"Logout", protocol.Frame{Type: protocol.TypeLogout}, 0},
		{"unknown type", protocol.Frame{Type: "Bogus"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := dial(t, s)
			p.send(tt.f, tt.id)
			p.expectError(protocol.CodeNotLoggedIn, tt.id)
			p.expectClosed()
		})
	}
}

func TestLoginObservedEndpoint(t *testing.T) {
	s := newServer(t, server.Config{})
	p := dial(t, s)
	p.send(protocol.MustFrame(protocol.TypeLogin, protocol.Login{UserID: "alice"}), 7)
	f := p.expect(protocol.TypeLoginResult)
	var lr protocol.LoginResult
	decode(t, f, &lr)
	local := p.nc.LocalAddr().(*net.TCPAddr).AddrPort()
	if !lr.OK || lr.Error != "" || f.Re != 7 || lr.Observed == nil {
		t.Fatalf("LoginResult %+v re=%d", lr, f.Re)
	}
	if got, ok := lr.Observed.AddrPort(); !ok || got != local {
		t.Fatalf("observed %+v, want the client's local address %s", lr.Observed, local)
	}
}

func TestBadUserID(t *testing.T) {
	s := newServer(t, server.Config{})
	other := login(t, s, "watcher")
	for _, body := range []string{
		``, // no body
		`,"body":{}`,
		`,"body":{"userID":""}`,
		`,"body":{"userID":"has space"}`,
		`,"body":{"userID":"a/b"}`,
		`,"body":{"userID":"` + strings.Repeat("x", 65) + `"}`,
		`,"body":{"userID":5}`,
		`,"body":{"userID":null}`,
		`,"body":{"UserID":"alice"}`,
	} {
		t.Run(body, func(t *testing.T) {
			p := dial(t, s)
			p.sendPayload(`{"type":"Login","id":3` + body + `}`)
			f := p.expect(protocol.TypeLoginResult)
			var lr protocol.LoginResult
			decode(t, f, &lr)
			if lr.OK || lr.Error != protocol.CodeBadUserID || f.Re != 3 {
				t.Fatalf("LoginResult %+v re=%d, want ok=false error=bad_user_id re=3", lr, f.Re)
			}
			p.expectError(protocol.CodeBadUserID, 3)
			p.expectClosed()
		})
	}
	other.expectSilent(100 * time.Millisecond) // no notices for refused logins
}

func TestAlreadyOnline(t *testing.T) {
	s := newServer(t, server.Config{})
	first := login(t, s, "alice")
	bob := login(t, s, "bob")
	first.expect(protocol.TypeUserStateNotify) // bob online

	second := dial(t, s)
	second.send(protocol.MustFrame(protocol.TypeLogin, protocol.Login{UserID: "alice"}), 1)
	f := second.expect(protocol.TypeLoginResult)
	var lr protocol.LoginResult
	decode(t, f, &lr)
	if lr.OK || lr.Error != protocol.CodeAlreadyOnline || f.Re != 1 {
		t.Fatalf("second login: %+v re=%d", lr, f.Re)
	}
	second.expectError(protocol.CodeAlreadyOnline, 1)
	second.expectClosed()

	// The first session stays: it still relays, and nobody saw alice go
	// offline or come online again.
	bob.send(chat("bob", "alice", "m1", "still there?"), 0)
	first.expectChat("bob", "m1", "still there?")
	bob.expectSilent(100 * time.Millisecond)

	// A second Login on the logged-in connection is refused; the session
	// stays.
	first.send(protocol.MustFrame(protocol.TypeLogin, protocol.Login{UserID: "carol"}), 5)
	first.expect(protocol.TypeLoginResult)
	first.expectError(protocol.CodeAlreadyOnline, 5)
	first.send(chat("alice", "bob", "m2", "yes"), 0)
	bob.expectChat("alice", "m2", "yes")
	st, err := s.Admin.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.User("carol"); ok || st.Totals.Online != 2 {
		t.Fatalf("stats after refused logins: %+v", st)
	}
}

func TestP2PInfo(t *testing.T) {
	s := newServer(t, server.Config{})
	peers := map[string]*peer{}
	for _, u := range []string{"carol", "alice", "bob"} { // bob last: no notices pending
		peers[u] = login(t, s, u)
	}
	bob := peers["bob"]
	bob.send(protocol.Frame{Type: protocol.TypeGetP2PInfo}, 11)
	f := bob.expect(protocol.TypeResP2pInfo)
	if f.Re != 11 {
		t.Fatalf("re = %d, want 11", f.Re)
	}
	var info protocol.ResP2pInfo
	decode(t, f, &info)
	want := []string{"alice", "bob", "carol"}
	if len(info.Users) != len(want) {
		t.Fatalf("users %+v, want %v", info.Users, want)
	}
	for i, u := range info.Users {
		local := peers[u.UserID].nc.LocalAddr().(*net.TCPAddr).AddrPort()
		if u.UserID != want[i] || u.IP != local.Addr().String() || u.Port != int(local.Port()) {
			t.Fatalf("user %d: %+v, want %s at %s", i, u, want[i], local)
		}
	}
}
