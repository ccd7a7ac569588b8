package server_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/server"
	"github.com/p2plab/p2plab/server/servertest"
)

var v11Features = []string{protocol.FeatureID, protocol.FeaturePunch, protocol.FeatureQUIC}

// login11 logs in as a v1.1 client with a fresh key; it returns the peer,
// its LoginResult and its public key.
func login11(t *testing.T, s *servertest.Server, user string, features []string) (*peer, protocol.LoginResult, string) {
	t.Helper()
	pub, _, _ := ed25519.GenerateKey(nil)
	key := protocol.EncodeKey(pub)
	p := dial(t, s)
	p.user = user
	local := protocol.EndpointOf(p.nc.LocalAddr().(*net.TCPAddr).AddrPort())
	p.send(protocol.MustFrame(protocol.TypeLogin, protocol.Login{UserID: user, Features: features, Key: key, Local: &local}), 1)
	var lr protocol.LoginResult
	decode(t, p.expect(protocol.TypeLoginResult), &lr)
	if !lr.OK {
		t.Fatalf("login %s: %+v", user, lr)
	}
	return p, lr, key
}

// members returns the member names of a frame's body.
func members(t *testing.T, f protocol.Frame) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	decode(t, f, &m)
	return m
}

func TestV11LoginResult(t *testing.T) {
	s := newServer(t, server.Config{})
	_, lr, _ := login11(t, s, "alice", v11Features)
	if !protocol.Has(lr.Features, protocol.FeatureID) || !protocol.Has(lr.Features, protocol.FeatureUDP) ||
		!protocol.Has(lr.Features, protocol.FeaturePunch) || len(lr.Token) != 32 || lr.HeartbeatMS != 2000 || lr.Misses != 3 {
		t.Fatalf("v1.1 LoginResult %+v: want features id, udp, punch, a 32-digit token, heartbeat 2000, misses 3", lr)
	}
	// A v1 client sees exactly the version 1 members.
	v1 := dial(t, s)
	v1.send(protocol.MustFrame(protocol.TypeLogin, protocol.Login{UserID: "bob"}), 1)
	for name := range members(t, v1.expect(protocol.TypeLoginResult)) {
		if name != "ok" && name != "observed" {
			t.Errorf("v1 LoginResult has member %q", name)
		}
	}
}

func TestV11BadKeyRefused(t *testing.T) {
	s := newServer(t, server.Config{})
	p := dial(t, s)
	p.send(protocol.MustFrame(protocol.TypeLogin, protocol.Login{UserID: "alice", Features: v11Features, Key: "AAAA"}), 4)
	var lr protocol.LoginResult
	decode(t, p.expect(protocol.TypeLoginResult), &lr)
	if lr.OK || lr.Error != protocol.CodeBadFrame {
		t.Fatalf("LoginResult %+v, want ok=false error=bad_frame", lr)
	}
	p.expectError(protocol.CodeBadFrame, 4)
	p.expectClosed()
}

// TestV11PeerInfoOnlyToV11 checks that keys and features reach v1.1
// clients, in ResP2pInfo and UserStateNotify, and never v1 clients.
func TestV11PeerInfoOnlyToV11(t *testing.T) {
	s := newServer(t, server.Config{})
	old := login(t, s, "old")
	alice, _, aliceKey := login11(t, s, "alice", v11Features)
	old.expectNotify("alice", true)
	for name := range members(t, mustNext(t, old, protocol.TypeUserStateNotify, func() { login11(t, s, "bob", v11Features) })) {
		if name != "userID" && name != "onLine" && name != "ip" && name != "port" {
			t.Errorf("v1 client's UserStateNotify has member %q", name)
		}
	}
	var n protocol.UserStateNotify
	decode(t, alice.expect(protocol.TypeUserStateNotify), &n)
	if n.UserID != "bob" || n.Key == "" || !protocol.Has(n.Features, protocol.FeaturePunch) || n.Local == nil {
		t.Fatalf("v1.1 client's notice %+v: want bob's key, features and local endpoint", n)
	}
	alice.send(protocol.Frame{Type: protocol.TypeGetP2PInfo}, 2)
	var info protocol.ResP2pInfo
	decode(t, alice.expect(protocol.TypeResP2pInfo), &info)
	for _, u := range info.Users {
		switch u.UserID {
		case "old":
			if u.Key != "" || u.Features != nil {
				t.Errorf("v1 user old has v1.1 members %+v", u)
			}
		case "alice":
			if u.Key != aliceKey {
				t.Errorf("alice's key %q, want the one she logged in with", u.Key)
			}
		}
	}
	old.send(protocol.Frame{Type: protocol.TypeGetP2PInfo}, 2)
	f := old.expect(protocol.TypeResP2pInfo)
	var raw struct{ Users []map[string]json.RawMessage }
	decode(t, f, &raw)
	for _, u := range raw.Users {
		for name := range u {
			if name != "userID" && name != "ip" && name != "port" {
				t.Errorf("v1 client's ResP2pInfo entry has member %q", name)
			}
		}
	}
}

// mustNext runs do, then expects a frame of typ on p.
func mustNext(t *testing.T, p *peer, typ string, do func()) protocol.Frame {
	t.Helper()
	do()
	return p.expect(typ)
}

func TestV1ServerIgnoresV11(t *testing.T) {
	s := newServer(t, server.Config{Version1: true})
	p, lr, _ := login11(t, s, "alice", v11Features)
	if lr.Features != nil || lr.Token != "" {
		t.Fatalf("version 1 server sent v1.1 members: %+v", lr)
	}
	p.send(protocol.MustFrame(protocol.TypePunchConnect, protocol.PunchConnect{PunchID: "p", DestUserID: "alice"}), 3)
	p.expectError(protocol.CodeUnknownType, 3)
	p.expectClosed()
	if _, err := hello(t, s.Addr, protocol.UDPHello{UserID: "alice", Token: "x", Seq: 1}, 200*time.Millisecond); err == nil {
		t.Fatal("a version 1 server answered a UDP hello")
	}
}

// hello sends one UDP hello from a fresh socket and waits d for the ack.
func hello(t *testing.T, addr netip.AddrPort, h protocol.UDPHello, d time.Duration) (protocol.UDPHelloAck, error) {
	t.Helper()
	uc, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	return helloOn(t, uc, h, d)
}

func helloOn(t *testing.T, uc *net.UDPConn, h protocol.UDPHello, d time.Duration) (protocol.UDPHelloAck, error) {
	t.Helper()
	b, err := protocol.MarshalDatagram(protocol.MustFrame(protocol.TypeUDPHello, h))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := uc.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = uc.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 2048)
	n, err := uc.Read(buf)
	if err != nil {
		return protocol.UDPHelloAck{}, err
	}
	f, err := protocol.UnmarshalDatagram(buf[:n])
	if err != nil || f.Type != protocol.TypeUDPHelloAck {
		t.Fatalf("answer %q: %v", buf[:n], err)
	}
	var a protocol.UDPHelloAck
	decode(t, f, &a)
	return a, nil
}

func TestUDPRendezvous(t *testing.T) {
	s := newServer(t, server.Config{})
	_, lr, _ := login11(t, s, "alice", v11Features)
	bob, _, _ := login11(t, s, "bob", v11Features)
	uc, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	ack, err := helloOn(t, uc, protocol.UDPHello{UserID: "alice", Token: lr.Token, Seq: 7}, wait)
	if err != nil {
		t.Fatalf("no answer to a good hello: %v", err)
	}
	mine := uc.LocalAddr().(*net.UDPAddr).AddrPort()
	if got, _ := ack.Observed.AddrPort(); ack.Seq != 7 || got.Port() != mine.Port() {
		t.Fatalf("ack %+v, want seq 7 and the socket's port %d", ack, mine.Port())
	}
	bob.send(protocol.Frame{Type: protocol.TypeGetP2PInfo}, 2)
	var info protocol.ResP2pInfo
	decode(t, bob.expect(protocol.TypeResP2pInfo), &info)
	found := false
	for _, u := range info.Users {
		if u.UserID == "alice" && u.UDP != nil && u.UDP.Port == int(mine.Port()) {
			found = true
		}
	}
	if !found {
		t.Fatalf("ResP2pInfo %+v does not carry alice's observed UDP endpoint", info)
	}

	bad := []struct {
		name string
		h    protocol.UDPHello
	}{
		{"wrong token", protocol.UDPHello{UserID: "alice", Token: "00000000000000000000000000000000"}},
		{"never logged in", protocol.UDPHello{UserID: "mallory", Token: lr.Token}},
		{"no token", protocol.UDPHello{UserID: "alice"}},
	}
	for _, tt := range bad {
		if _, err := hello(t, s.Addr, tt.h, 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: answered (%v), want ignored", tt.name, err)
		}
	}
	// malformed datagrams
	for _, d := range [][]byte{{1, 2, 3}, []byte("{\"type\":\"UDPHello\"}")} {
		if _, err := uc.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "5 rejected hellos counted", func() bool {
		st, err := s.Admin.Stats(context.Background())
		return err == nil && st.Totals.UDPHellosRejected == 5 && st.Totals.UDPHellos == 1
	})
	m, err := s.Admin.Metrics(context.Background())
	if err != nil || !strings.Contains(m, "p2plab_server_udp_hellos_rejected_total 5\n") || !strings.Contains(m, "p2plab_server_udp_hellos_total 1\n") {
		t.Fatalf("/metrics (%v) lacks the hello counters:\n%s", err, m)
	}
}

func TestPunchRelay(t *testing.T) {
	s := newServer(t, server.Config{})
	alice, lr, _ := login11(t, s, "alice", v11Features)
	bob, _, _ := login11(t, s, "bob", v11Features)
	alice.expect(protocol.TypeUserStateNotify)
	old := login(t, s, "old")
	alice.expect(protocol.TypeUserStateNotify)
	bob.expect(protocol.TypeUserStateNotify)
	uc, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	if _, err := helloOn(t, uc, protocol.UDPHello{UserID: "alice", Token: lr.Token, Seq: 1}, wait); err != nil {
		t.Fatal(err)
	}
	fake := protocol.Endpoint{IP: "192.0.2.1", Port: 9}
	alice.send(protocol.MustFrame(protocol.TypePunchConnect, protocol.PunchConnect{PunchID: "p1", DestUserID: "bob",
		Methods: []string{protocol.MethodUDPPunch}, TCP: &fake, UDP: &fake, Local: &fake}), 0)
	var pc protocol.PunchConnect
	decode(t, bob.expect(protocol.TypePunchConnect), &pc)
	aliceTCP := protocol.EndpointOf(alice.nc.LocalAddr().(*net.TCPAddr).AddrPort())
	aliceUDP := uc.LocalAddr().(*net.UDPAddr).AddrPort()
	if pc.UserID != "alice" || pc.PunchID != "p1" || pc.TCP == nil || *pc.TCP != aliceTCP ||
		pc.UDP == nil || pc.UDP.Port != int(aliceUDP.Port()) || pc.Local == nil || *pc.Local != aliceTCP {
		t.Fatalf("relayed %+v: want alice's own endpoints (tcp %v, udp port %d), not the ones she wrote", pc, aliceTCP, aliceUDP.Port())
	}
	// sender enforced
	alice.send(protocol.MustFrame(protocol.TypePunchSync, protocol.PunchSync{PunchID: "p1", UserID: "bob", DestUserID: "bob"}), 5)
	alice.expectError(protocol.CodeForbidden, 5)
	// destination without punch
	alice.send(protocol.MustFrame(protocol.TypePunchConnect, protocol.PunchConnect{PunchID: "p2", DestUserID: "old"}), 6)
	if e := alice.expectError(protocol.CodeUnsupported, 6); e.PunchID != "p2" {
		t.Fatalf("unsupported %+v: want punchID p2", e)
	}
	alice.send(protocol.MustFrame(protocol.TypePunchConnect, protocol.PunchConnect{PunchID: "p3", DestUserID: "nobody"}), 7)
	alice.expectError(protocol.CodeUserOffline, 7)
	bob.send(protocol.MustFrame(protocol.TypePunchSync, protocol.PunchSync{PunchID: "p1", DestUserID: "alice"}), 0)
	var ps protocol.PunchSync
	decode(t, alice.expect(protocol.TypePunchSync), &ps)
	if ps.UserID != "bob" || ps.PunchID != "p1" {
		t.Fatalf("sync %+v", ps)
	}
	old.expectSilent(100 * time.Millisecond)
	st, _ := s.Admin.Stats(context.Background())
	if st.Totals.PunchRelayed != 2 || st.Totals.Uploads != 0 {
		t.Fatalf("totals %+v: want 2 punch frames relayed, not counted as uploads", st.Totals)
	}
}
