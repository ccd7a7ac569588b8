package client_test

import (
	"context"
	"net"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/server"
)

// restartServer starts a new reference server on addr (after the old one
// died) and returns an admin client for it.
func restartServer(t *testing.T, addr netip.AddrPort) *api.Admin {
	t.Helper()
	var ln net.Listener
	var err error
	eventually(t, "the old server's port is free", func() bool {
		ln, err = net.Listen("tcp", addr.String())
		return err == nil
	})
	s := server.New(server.Config{Heartbeat: time.Second, Misses: 5})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	hs := httptest.NewServer(s.AdminHandler())
	adm := api.NewAdmin(strings.TrimPrefix(hs.URL, "http://"))
	t.Cleanup(func() {
		adm.Close()
		hs.Close()
		s.Close()
		cancel()
		<-served
	})
	return adm
}

// TestServerRestored: the server dies and comes back on the same address.
// Both clients keep their channel throughout, log in again with backoff
// (server_restored), and are online in the new server's registry.
func TestServerRestored(t *testing.T) {
	srv := startServer(t)
	fast := clienttest.WithConfig(func(c *client.Config) { c.ReconnectMin, c.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond })
	a, b := pair(t, srv, fast)
	seqA := lastSeq(t, a)
	before := a.C.Listen()
	srv.Close()
	waitEvent(t, a, "server_lost", isType(api.EventServerLost))
	adm := restartServer(t, srv.Addr)
	for _, h := range []*clienttest.Client{a, b} {
		waitEvent(t, h, "server_restored", isType(api.EventServerRestored))
	}
	eventually(t, "both online in the new server", func() bool {
		st, err := adm.Stats(tctx(t))
		if err != nil {
			return false
		}
		ua, oka := st.User("alice")
		ub, okb := st.User("bob")
		return oka && okb && ua.Online && ub.Online
	})
	for _, e := range a.C.Events(seqA) {
		if e.Type == api.EventChannelClosed {
			t.Errorf("channel closed across the server restart: %+v", e)
		}
	}
	if st, _ := a.API.Status(tctx(t)); !st.Online {
		t.Errorf("alice status %+v", st)
	}
	if before != a.C.Listen() {
		t.Logf("alice's endpoint changed across the restart: %s -> %s", before, a.C.Listen())
	}
	// relay works through the new server once the channel is gone (no
	// listener left, so a late re-dial after the re-login cannot rebuild it)
	a.C.CloseListenersForTest()
	b.C.CloseListenersForTest()
	a.C.KillChannelForTest("bob")
	waitEvent(t, a, "channel gone", closedWith("bob", "connection lost"))
	res, err := a.API.Chat(tctx(t), "bob", "through the new server")
	if err != nil || res.Via != api.ViaRelay {
		t.Fatalf("chat %+v %v", res, err)
	}
	if e := waitEvent(t, b, "chat", received(res.MessageID)); e.Via != api.ViaRelay {
		t.Errorf("received via %q", e.Via)
	}
	waitEvent(t, a, "ack", acked(res.MessageID))
	st, err := adm.Stats(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := st.User("alice"); u.Uploads < 1 {
		t.Errorf("new server counted no upload from alice: %+v", u)
	}
}

// TestRelayedResentAfterRelogin: a chat message sent through the server and
// not acknowledged when the server connection ends is sent again, with the
// same messageID, through the server after the next login
// (docs/protocol.md 6.9); the receiver's duplicate filter (6.6) makes a
// second copy harmless.
func TestRelayedResentAfterRelogin(t *testing.T) {
	srv := startServer(t)
	fast := clienttest.WithConfig(func(c *client.Config) { c.ReconnectMin, c.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond })
	a := clienttest.New(t, srv.Addr, "alice", fast)
	// bob logs in after alice, so nobody dials (the newcomer initiates and
	// bob is a raw user that never does): the chat goes by relay.
	bob := newRawUser(t, srv.Addr, "bob", false)
	waitEvent(t, a, "bob online", func(e api.Event) bool { return e.Type == api.EventUserOnline && e.UserID == "bob" })
	res, err := a.API.Chat(tctx(t), "bob", "never acknowledged")
	if err != nil || res.Via != api.ViaRelay {
		t.Fatalf("chat %+v %v", res, err)
	}
	isChat := func(f protocol.Frame) bool {
		var m protocol.Chat
		return f.DecodeBody(&m) == nil && m.MessageID == res.MessageID
	}
	bob.expectServer(protocol.TypeChatMessage, isChat) // and no ChatAck
	srv.Close()
	waitEvent(t, a, "server_lost", isType(api.EventServerLost))
	bob.Close()
	restartServer(t, srv.Addr)
	e := waitEvent(t, a, "chat_resent", func(e api.Event) bool { return e.Type == api.EventChatResent && e.MessageID == res.MessageID })
	if e.Via != api.ViaRelay {
		t.Errorf("resent via %q, want relay", e.Via)
	}
	restored := waitEvent(t, a, "server_restored", isType(api.EventServerRestored))
	if e.Seq < restored.Seq {
		t.Errorf("chat_resent (seq %d) before the re-login (server_restored seq %d):\n%s", e.Seq, restored.Seq, dumpEvents(a))
	}
}
