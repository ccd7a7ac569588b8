package client_test

import (
	"encoding/json"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/server"
	"github.com/p2plab/p2plab/server/servertest"
)

// TestCompatibility: every pairing of protocol versions (docs/protocol.md
// 9.2) makes a channel that carries acknowledged chat both ways, over real
// sockets: v1.1 pairs prove their keys, a v1 peer is taken from its
// advertised endpoint, a v1 server gives nobody keys.
func TestCompatibility(t *testing.T) {
	for _, tc := range []struct {
		name             string
		serverV1, a1, b1 bool // which side speaks version 1
	}{
		{"v1.1 server, v1.1 pair", false, false, false},
		{"v1.1 server, v1 newcomer", false, false, true},
		{"v1.1 server, v1 acceptor", false, true, false},
		{"v1.1 server, v1 pair", false, true, true},
		{"v1 server, v1.1 pair", true, false, false},
		{"v1 server, mixed pair", true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := servertest.NewServer(t, server.Config{Heartbeat: time.Second, Misses: 5, Version1: tc.serverV1})
			opt := func(v1 bool) []clienttest.Option {
				if v1 {
					return []clienttest.Option{asV1}
				}
				return nil
			}
			a := clienttest.New(t, srv.Addr, "alice", opt(tc.a1)...)
			b := clienttest.New(t, srv.Addr, "bob", opt(tc.b1)...) // the newcomer dials
			for _, e := range []api.Event{waitEvent(t, a, "alice's channel", opened("bob")), waitEvent(t, b, "bob's channel", opened("alice"))} {
				if e.Transport != protocol.TransportTCP || e.Method != protocol.MethodDirect || e.Initiator != "bob" {
					t.Errorf("channel_opened %+v: want tcp, direct, initiated by bob", e)
				}
			}
			for _, d := range []struct{ from, to *clienttest.Client }{{a, b}, {b, a}} {
				res, err := d.from.API.Chat(tctx(t), d.to.C.UserID(), "hello")
				if err != nil || res.Via != api.ViaP2P {
					t.Fatalf("chat %+v %v", res, err)
				}
				waitEvent(t, d.to, "chat", received(res.MessageID))
				waitEvent(t, d.from, "ack", acked(res.MessageID))
			}
			for _, h := range []*clienttest.Client{a, b} {
				if logHas(t, h, protocol.LogRefused, "alice") || logHas(t, h, protocol.LogRefused, "bob") {
					t.Errorf("%s refused its peer:\n%s", h.C.UserID(), logText(t, h))
				}
			}
		})
	}
}

// TestV1PeerGetsV1Setup: a v1.1 client dialling a v1 peer sends it the
// version 1 SetupP2PMessage, {userID} and nothing else, and then takes a
// v1 peer's crossing SetupP2PMessage as harmless.
func TestV1PeerGetsV1Setup(t *testing.T) {
	srv := startServer(t)
	p := newRawUser(t, srv.Addr, "zed", true)
	a := clienttest.New(t, srv.Addr, "alice")
	rc := p.accept()
	f := rc.expect(protocol.TypeSetupP2PMessage)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(f.Body, &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || string(m["userID"]) != `"alice"` {
		t.Fatalf("SetupP2PMessage to a v1 peer: %s, want exactly {\"userID\":\"alice\"}", f.Body)
	}
	waitEvent(t, a, "channel", opened("zed"))
	rc.send(protocol.MustFrame(protocol.TypeClientChatMessage, protocol.Chat{MessageID: "z1", UserID: "zed", DestUserID: "alice"}))
	waitEvent(t, a, "zed's chat", received("z1"))
}

// TestV1PeerFromElsewhereRefused: with StrictV1Peers a v1 peer (no key)
// is taken only from its advertised address (docs/protocol.md 9.2);
// another port of it is fine (the tie-break's second channel).
func TestV1PeerFromElsewhereRefused(t *testing.T) {
	srv := startServer(t)
	a := clienttest.New(t, srv.Addr, "alice", clienttest.WithConfig(func(c *client.Config) { c.StrictV1Peers = true }))
	newRawUser(t, srv.Addr, "zed", true)
	rc := dialRaw(t, a.C.Listen(), netip.MustParseAddrPort("127.0.0.2:0")) // not from zed's address
	rc.send(protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: "zed"}))
	rc.expectClosed()
	good := dialRaw(t, a.C.Listen(), netipZero) // zed's address, another port
	good.send(protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: "zed"}))
	waitEvent(t, a, "zed's channel from its own endpoint", opened("zed"))
	if !logHas(t, a, protocol.LogRefused, "zed") {
		t.Errorf("no refused line:\n%s", logText(t, a))
	}
}

// TestRestartWhileOldSessionLingers: a restarted client whose old session
// is still on the server (gone silent, not yet timed out) is refused with
// already_online; it retries within the server's teardown window and gets
// in, instead of exiting (docs/control-api.md section 1).
func TestRestartWhileOldSessionLingers(t *testing.T) {
	srv := servertest.NewServer(t, server.Config{Heartbeat: 200 * time.Millisecond, Misses: 3})
	old, err := net.Dial("tcp", srv.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	login := protocol.MustFrame(protocol.TypeLogin, protocol.Login{UserID: "alice"})
	login.ID = 1
	if err := protocol.WriteFrame(old, login); err != nil {
		t.Fatal(err)
	}
	if f, err := protocol.NewReader(old).ReadFrame(); err != nil || f.Type != protocol.TypeLoginResult {
		t.Fatalf("old session login: %+v %v", f, err)
	}
	start := time.Now()
	a := clienttest.New(t, srv.Addr, "alice") // the old session is silent from now on
	if st, err := a.API.Status(tctx(t)); err != nil || !st.Online {
		t.Fatalf("status %+v %v", st, err)
	}
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Fatalf("logged in after %v: the old session cannot have been timed out yet", took)
	}
}
