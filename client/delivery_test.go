package client_test

import (
	"encoding/json"
	"testing"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
)

func countEvents(evs []api.Event, match func(api.Event) bool) int {
	n := 0
	for _, e := range evs {
		if match(e) {
			n++
		}
	}
	return n
}

// TestDedupe covers docs/protocol.md 6.6 (receiver side): the same messageID from
// the same sender arrives twice over the channel and once more through the
// server. Bob acknowledges every copy over the path it came by, but reports
// the message once.
func TestDedupe(t *testing.T) {
	srv := startServer(t)
	b := clienttest.New(t, srv.Addr, "bob", asV1)
	z := newRawUser(t, srv.Addr, "zed", false)
	rc := dialRaw(t, b.C.Listen(), netipZero)
	rc.send(protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: "zed"}))
	msg := protocol.Chat{MessageID: "m-1", UserID: "zed", DestUserID: "bob", Content: "once"}
	ackOf := func(f protocol.Frame) protocol.ChatAck {
		var a protocol.ChatAck
		if err := json.Unmarshal(f.Body, &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	for i := 0; i < 2; i++ {
		rc.send(protocol.MustFrame(protocol.TypeClientChatMessage, msg))
		if a := ackOf(rc.expect(protocol.TypeChatAck)); a.MessageID != "m-1" || a.UserID != "bob" || a.DestUserID != "zed" {
			t.Fatalf("ack over the channel %+v", a)
		}
	}
	z.sendServer(protocol.MustFrame(protocol.TypeChatMessage, msg))
	if a := ackOf(z.expectServer(protocol.TypeChatAck, nil)); a.MessageID != "m-1" {
		t.Fatalf("ack through the server %+v", a)
	}
	// a different message after the copies: once it is in, all copies were seen
	msg2 := msg
	msg2.MessageID, msg2.Content = "m-2", "next"
	rc.send(protocol.MustFrame(protocol.TypeClientChatMessage, msg2))
	waitEvent(t, b, "second message", received("m-2"))
	if n := countEvents(events(t, b), received("m-1")); n != 1 {
		t.Fatalf("bob reported m-1 %d times, want 1", n)
	}
	// the same messageID from another sender is another message
	y := newRawUser(t, srv.Addr, "yan", false)
	other := msg
	other.UserID = "yan"
	y.sendServer(protocol.MustFrame(protocol.TypeChatMessage, other))
	e := waitEvent(t, b, "yan's m-1", func(e api.Event) bool { return e.Type == api.EventChatReceived && e.From == "yan" })
	if e.MessageID != "m-1" || e.Via != api.ViaRelay {
		t.Errorf("yan's message %+v", e)
	}
}

// TestResendThroughServer covers docs/protocol.md 6.6 (sender side): alice sends
// over her channel to a raw user who reads the message but never
// acknowledges it and then resets the channel. Alice re-sends it through
// the server (same messageID); the ack that comes back through the server
// completes it.
func TestResendThroughServer(t *testing.T) {
	z, a, rc := channelFromRaw(t)
	res, err := a.API.Chat(tctx(t), "zed", "are you there")
	if err != nil || res.Via != api.ViaP2P {
		t.Fatalf("chat %+v %v", res, err)
	}
	var m protocol.Chat
	if err := rc.expect(protocol.TypeClientChatMessage).DecodeBody(&m); err != nil || m.MessageID != res.MessageID {
		t.Fatalf("over the channel: %+v %v", m, err)
	}
	rc.reset()
	waitEvent(t, a, "channel lost", closedWith("zed", protocol.ReasonConnectionLost))
	f := z.expectServer(protocol.TypeChatMessage, nil)
	var again protocol.Chat
	if err := f.DecodeBody(&again); err != nil || again.MessageID != res.MessageID || again.Content != "are you there" || again.UserID != "alice" {
		t.Fatalf("resent %+v %v", again, err)
	}
	if e := waitEvent(t, a, "chat_resent", isType(api.EventChatResent)); e.MessageID != res.MessageID || e.Via != api.ViaRelay {
		t.Errorf("chat_resent %+v", e)
	}
	z.sendServer(protocol.MustFrame(protocol.TypeChatAck, protocol.ChatAck{MessageID: res.MessageID, UserID: "zed", DestUserID: "alice"}))
	if e := waitEvent(t, a, "ack", acked(res.MessageID)); e.Via != api.ViaRelay {
		t.Errorf("acked via %q", e.Via)
	}
	// the log shows both paths: p2p first, then the server, after the close
	les := p2pLog(t, a)
	var order []string
	for _, e := range les {
		switch e.Kind {
		case protocol.LogSendP2P, protocol.LogForwarding, protocol.LogClosed:
			order = append(order, e.Kind)
		}
	}
	want := []string{protocol.LogSendP2P, protocol.LogClosed, protocol.LogForwarding}
	if len(order) != 3 || order[0] != want[0] || order[1] != want[1] || order[2] != want[2] {
		t.Errorf("log order %v, want %v", order, want)
	}
}

// TestInFlightExactlyOnce covers docs/protocol.md 6.6 end to end with two reference
// clients: alice's channel to bob dies right after she sends a burst of
// messages (some on the wire, some still queued, some acks lost). Every
// message reaches bob exactly once and every one is acknowledged; what was
// unacknowledged went again through the server.
func TestInFlightExactlyOnce(t *testing.T) {
	srv := startServer(t)
	a, b := pair(t, srv)
	const n = 20
	ids := make([]string, 0, n)
	for i := 0; i < n; i++ {
		res, err := a.API.Chat(tctx(t), "bob", "burst")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.MessageID)
		if i == n/2 {
			if !a.C.KillChannelForTest("bob") {
				t.Fatal("no channel to kill")
			}
		}
	}
	for _, id := range ids {
		waitEvent(t, a, "ack "+id, acked(id))
		waitEvent(t, b, "message "+id, received(id))
	}
	// a last message through the server: bob has processed everything before
	last, err := a.API.Chat(tctx(t), "bob", "last")
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, b, "last", received(last.MessageID))
	evs := events(t, b)
	for _, id := range ids {
		if c := countEvents(evs, received(id)); c != 1 {
			t.Errorf("bob reported %s %d times", id, c)
		}
	}
	resent := countEvents(events(t, a), isType(api.EventChatResent))
	if resent == 0 {
		t.Log("no message was in flight when the channel died (all acked before)")
	}
	t.Logf("%d of %d messages re-sent through the server", resent, n)
}
