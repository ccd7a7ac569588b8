package client_test

import (
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
)

// fastHB makes heartbeats quick: 100ms, dead after 5 misses (for tests
// that expect a teardown).
var fastHB = clienttest.WithHeartbeat(100*time.Millisecond, 5)

// idleHB is for tests that expect no teardown: 200ms, dead after 10
// misses, so a loaded machine does not fake a dead peer.
var idleHB = clienttest.WithHeartbeat(200*time.Millisecond, 10)

// TestPeerOfflineClosesChannel covers docs/protocol.md 5.7 and 6.8: when a user logs out,
// the server tells the others (UserStateNotify offline) and they remove
// that user's channel with reason "peer offline"; the leaver closes its
// side with reason "logout".
func TestPeerOfflineClosesChannel(t *testing.T) {
	srv := startServer(t)
	a, b := pair(t, srv)
	if err := b.API.Logout(tctx(t)); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, "user_offline bob", func(e api.Event) bool { return e.Type == api.EventUserOffline && e.UserID == "bob" })
	waitEvent(t, b, "bob's channel closed by logout", closedWith("alice", protocol.ReasonLogout))
	// alice closes with "peer offline", unless bob's FIN got there before
	// the notification ("connection lost"); either way the channel is gone.
	e := waitEvent(t, a, "alice's channel closed", func(e api.Event) bool { return e.Type == api.EventChannelClosed && e.Peer == "bob" })
	if e.Reason != protocol.ReasonPeerOffline && e.Reason != protocol.ReasonConnectionLost {
		t.Errorf("alice closed with %q", e.Reason)
	}
	if _, ok := channelTo(t, a, "bob"); ok {
		t.Error("alice still has a channel to bob")
	}
	if n := countLog(p2pLog(t, b), protocol.LogClosed, "alice"); n != 1 {
		t.Errorf("bob logged %d closes", n)
	}
	st, _ := b.API.Status(tctx(t))
	if st.Online {
		t.Error("bob still online after logout")
	}
}

// TestPeerOfflineNotifyWinsOverChannel checks the "peer offline" reason
// itself: a raw user whose channel stays open (no FIN) drops off the server,
// and alice closes the channel on the UserStateNotify alone.
func TestPeerOfflineNotifyWinsOverChannel(t *testing.T) {
	srv := startServer(t)
	a := clienttest.New(t, srv.Addr, "alice", asV1)
	z := newRawUser(t, srv.Addr, "zed", false)
	rc := dialRaw(t, a.C.Listen(), netipZero)
	rc.send(protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: "zed"}))
	waitEvent(t, a, "channel from zed", opened("zed"))
	go func() { // keep the channel alive from zed's side
		for {
			if _, err := rc.next(); err != nil {
				return
			}
		}
	}()
	z.sendServer(protocol.Frame{Type: protocol.TypeLogout})
	e := waitEvent(t, a, "channel closed", func(e api.Event) bool { return e.Type == api.EventChannelClosed && e.Peer == "zed" })
	if e.Reason != protocol.ReasonPeerOffline {
		t.Errorf("closed with %q, want %q", e.Reason, protocol.ReasonPeerOffline)
	}
	found := false
	for _, l := range p2pLog(t, a) {
		if l.Kind == protocol.LogClosed && l.Peer == "zed" && l.Reason == protocol.ReasonPeerOffline {
			found = true
		}
	}
	if !found {
		t.Error(`no "closed zed: peer offline" in alice's log`)
	}
}

// TestHeartbeatTeardown covers docs/protocol.md 6.7 (channel heartbeats): a peer
// that goes silent without closing (no FIN, no RST: it just stops sending
// and stops reading) is torn down by alice after misses*interval with
// reason "heartbeat timeout", while the server connection is fine.
func TestHeartbeatTeardown(t *testing.T) {
	srv := startServer(t)
	a := clienttest.New(t, srv.Addr, "alice", fastHB, asV1)
	rc := dialRaw(t, a.C.Listen(), netipZero)
	rc.send(protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: "zed"}))
	op := waitEvent(t, a, "channel from zed", opened("zed"))
	// zed never reads or writes again.
	cl := waitEvent(t, a, "heartbeat teardown", func(e api.Event) bool { return e.Type == api.EventChannelClosed && e.Peer == "zed" })
	if cl.Reason != protocol.ReasonHeartbeatTimeout {
		t.Fatalf("closed with %q, want %q", cl.Reason, protocol.ReasonHeartbeatTimeout)
	}
	if d := cl.Time.Sub(op.Time); d < 450*time.Millisecond {
		t.Errorf("torn down after %s, before 5 missed 100ms heartbeats", d)
	}
	if st, _ := a.API.Status(tctx(t)); !st.Online {
		t.Error("alice lost the server too")
	}
	les := p2pLog(t, a)
	if countLog(les, protocol.LogAccepted, "zed") != 1 {
		t.Errorf("no accepted line: %+v", les)
	}
	found := false
	for _, e := range les {
		found = found || (e.Kind == protocol.LogClosed && e.Peer == "zed" && e.Reason == protocol.ReasonHeartbeatTimeout)
	}
	if !found {
		t.Errorf(`no "closed zed: heartbeat timeout" line: %+v`, les)
	}
}

// TestHeartbeatKeepsIdleChannel: a channel with nothing to say stays up
// for many intervals, because both ends heartbeat.
func TestHeartbeatKeepsIdleChannel(t *testing.T) {
	srv := startServer(t)
	a, b := pair(t, srv, idleHB)
	// 20 intervals; any teardown would show as a channel_closed event.
	evs, err := a.API.Events(tctx(t), lastSeq(t, a), 4*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type == api.EventChannelClosed {
			t.Fatalf("idle channel closed: %+v", e)
		}
	}
	if _, ok := channelTo(t, b, "alice"); !ok {
		t.Fatal("bob lost the channel")
	}
}

// TestChatSurvivesServerDeath covers docs/protocol.md 6.9 (independence): the server
// dies; both clients report server_lost, keep their channel and go on
// chatting over it.
func TestChatSurvivesServerDeath(t *testing.T) {
	srv := startServer(t)
	a, b := pair(t, srv, idleHB)
	srv.Close()
	waitEvent(t, a, "server_lost", isType(api.EventServerLost))
	waitEvent(t, b, "server_lost", isType(api.EventServerLost))
	if st, _ := a.API.Status(tctx(t)); st.Online {
		t.Error("alice says online with the server dead")
	}
	for i, dir := range []struct{ from, to *clienttest.Client }{{a, b}, {b, a}} {
		res, err := dir.from.API.Chat(tctx(t), dir.to.C.UserID(), "still here")
		if err != nil {
			t.Fatalf("chat %d: %v", i, err)
		}
		if res.Via != api.ViaP2P {
			t.Fatalf("via %q", res.Via)
		}
		if e := waitEvent(t, dir.to, "chat", received(res.MessageID)); e.Via != api.ViaP2P {
			t.Errorf("received via %q", e.Via)
		}
		waitEvent(t, dir.from, "ack", acked(res.MessageID))
	}
	// and the channel outlives many heartbeat intervals without the server
	if _, ok := channelTo(t, a, "bob"); !ok {
		t.Fatal("alice lost the channel")
	}
}

// lastSeq returns the seq of h's newest event.
func lastSeq(t *testing.T, h *clienttest.Client) int64 {
	evs := events(t, h)
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}
