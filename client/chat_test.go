package client_test

import (
	"testing"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/server/servertest"
)

// pair starts alice then bob and waits for their channel.
func pair(t *testing.T, srv *servertest.Server, opts ...clienttest.Option) (*clienttest.Client, *clienttest.Client) {
	t.Helper()
	a := clienttest.New(t, srv.Addr, "alice", opts...)
	b := clienttest.New(t, srv.Addr, "bob", opts...)
	waitEvent(t, a, "channel to bob", opened("bob"))
	waitEvent(t, b, "channel to alice", opened("alice"))
	return a, b
}

// TestChatOverChannel covers docs/protocol.md 6.5 (first half) and 5.6: with a
// channel, chat goes P2P both ways, is acknowledged over the channel, the
// server relays nothing, and the logs say "send messages through p2p
// channel".
func TestChatOverChannel(t *testing.T) {
	srv := startServer(t)
	a, b := pair(t, srv)
	before, hasStats := userStats(t, srv, "alice")
	for _, dir := range []struct{ from, to *clienttest.Client }{{a, b}, {b, a}} {
		res, err := dir.from.API.Chat(tctx(t), dir.to.C.UserID(), "hello from "+dir.from.C.UserID())
		if err != nil {
			t.Fatal(err)
		}
		if res.Via != api.ViaP2P || res.MessageID == "" {
			t.Fatalf("chat answer %+v, want via p2p", res)
		}
		e := waitEvent(t, dir.to, "chat", received(res.MessageID))
		if e.Via != api.ViaP2P || e.From != dir.from.C.UserID() || e.Content != "hello from "+dir.from.C.UserID() {
			t.Errorf("chat_received %+v", e)
		}
		ack := waitEvent(t, dir.from, "ack", acked(res.MessageID))
		if ack.Via != api.ViaP2P || ack.To != dir.to.C.UserID() {
			t.Errorf("chat_acked %+v", ack)
		}
		if n := countLog(p2pLog(t, dir.from), protocol.LogSendP2P, ""); n != 1 {
			t.Errorf("%s logged %d p2p sends, want 1", dir.from.C.UserID(), n)
		}
		for _, e := range p2pLog(t, dir.from) {
			if e.Kind == protocol.LogSendP2P && e.Me != dir.from.C.UserID() {
				t.Errorf("send line names %q", e.Me)
			}
			if e.Kind == protocol.LogForwarding {
				t.Errorf("%s forwarded through the server", dir.from.C.UserID())
			}
		}
	}
	if hasStats {
		after, _ := userStats(t, srv, "alice")
		if after.Uploads != before.Uploads || after.Downloads != before.Downloads {
			t.Errorf("server relayed for alice: before %+v after %+v", before, after)
		}
	}
}

// TestRelayFallback covers docs/protocol.md 6.5 (second half): bob's listener is
// unreachable, so alice's dial fails ("create failed ...: connection
// refused"), no channel exists, and chat goes through the server both
// ways, acknowledged through the server; the server counts the relays.
func TestRelayFallback(t *testing.T) {
	srv := startServer(t)
	b := clienttest.New(t, srv.Addr, "bob")
	b.C.CloseListenersForTest()
	a := clienttest.New(t, srv.Addr, "alice")
	eventually(t, "alice's failed dial in the log", func() bool {
		return countLog(p2pLog(t, a), protocol.LogCreateFailed, "bob") == 1
	})
	for _, e := range p2pLog(t, a) {
		if e.Kind == protocol.LogCreateFailed && (e.Addr != b.C.Listen() || e.Reason != "connection refused") {
			t.Errorf("create failed line %+v, want bob at %s: connection refused", e, b.C.Listen())
		}
	}
	if _, ok := channelTo(t, a, "bob"); ok {
		t.Fatal("alice has a channel to bob")
	}
	aBefore, hasStats := userStats(t, srv, "alice")
	bBefore, _ := userStats(t, srv, "bob")
	res, err := a.API.Chat(tctx(t), "bob", "via the server")
	if err != nil {
		t.Fatal(err)
	}
	if res.Via != api.ViaRelay {
		t.Fatalf("via %q, want relay", res.Via)
	}
	e := waitEvent(t, b, "relayed chat", received(res.MessageID))
	if e.Via != api.ViaRelay || e.From != "alice" || e.Content != "via the server" {
		t.Errorf("chat_received %+v", e)
	}
	if ack := waitEvent(t, a, "ack", acked(res.MessageID)); ack.Via != api.ViaRelay {
		t.Errorf("ack via %q, want relay", ack.Via)
	}
	res2, err := b.API.Chat(tctx(t), "alice", "back")
	if err != nil || res2.Via != api.ViaRelay {
		t.Fatalf("bob -> alice: %+v %v", res2, err)
	}
	waitEvent(t, a, "relayed reply", received(res2.MessageID))
	waitEvent(t, b, "ack of the reply", acked(res2.MessageID))
	if n := countLog(p2pLog(t, a), protocol.LogForwarding, ""); n != 1 {
		t.Errorf("alice logged %d server forwards, want 1", n)
	}
	if hasStats {
		eventually(t, "server counters", func() bool {
			aa, _ := userStats(t, srv, "alice")
			bb, _ := userStats(t, srv, "bob")
			// alice uploaded her message and her ack of bob's; bob likewise
			return aa.Uploads-aBefore.Uploads == 2 && bb.Uploads-bBefore.Uploads == 2 &&
				aa.Downloads-aBefore.Downloads == 2 && bb.Downloads-bBefore.Downloads == 2
		})
	}
}

// TestChatToOfflineUser covers docs/protocol.md 6.6 and 5.4 (refusal): a message to a user
// who is not online is refused by the server (user_offline) and reported
// as chat_failed, never silently dropped.
func TestChatToOfflineUser(t *testing.T) {
	srv := startServer(t)
	a := clienttest.New(t, srv.Addr, "alice")
	res, err := a.API.Chat(tctx(t), "nobody", "anyone there?")
	if err != nil {
		t.Fatal(err)
	}
	if res.Via != api.ViaRelay {
		t.Fatalf("via %q, want relay", res.Via)
	}
	e := waitEvent(t, a, "chat_failed", func(e api.Event) bool { return e.Type == api.EventChatFailed && e.MessageID == res.MessageID })
	if e.Reason != protocol.CodeUserOffline || e.To != "nobody" {
		t.Errorf("chat_failed %+v", e)
	}
}
