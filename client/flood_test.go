package client_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
)

// burstChats is the size of the chat bursts below: far more than a link's
// outbound queue (256 frames), so acks cannot all wait in it.
const burstChats = 4000

// chatBurst encodes n small chats from from to to as one buffer, so they
// reach the client in a few large writes.
func chatBurst(t *testing.T, from, to, prefix string, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	for i := range n {
		f := protocol.MustFrame(protocol.TypeClientChatMessage, protocol.Chat{MessageID: fmt.Sprintf("%s-%d", prefix, i),
			UserID: from, DestUserID: to, Content: "x"})
		if err := protocol.WriteFrame(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// channelFromRaw starts a server, a raw user zed that listens, and the
// reference client alice, which dials zed as the newcomer: it returns them
// with zed's end of the channel once alice reports it open.
func channelFromRaw(t *testing.T) (*rawUser, *clienttest.Client, *rawChan) {
	t.Helper()
	srv := startServer(t)
	z := newRawUser(t, srv.Addr, "zed", true)
	a := clienttest.New(t, srv.Addr, "alice")
	rc := z.accept()
	rc.expect(protocol.TypeSetupP2PMessage)
	waitEvent(t, a, "channel", opened("zed"))
	return z, a, rc
}

// TestChatBurstServed (docs/protocol.md 2.5): a peer that sends a burst of
// thousands of small chats over its channel in one go, and reads the acks
// only after it has written them all, gets every chat acknowledged; the
// channel stays open (it was closed as "heartbeat timeout" when the acks
// overflowed the outbound queue) and the receiver reports each chat once.
func TestChatBurstServed(t *testing.T) {
	_, a, rc := channelFromRaw(t)
	burst := chatBurst(t, "zed", "alice", "b", burstChats)
	werr := make(chan error, 1)
	go func() {
		_ = rc.c.SetWriteDeadline(time.Now().Add(waitTimeout))
		_, err := rc.c.Write(burst)
		werr <- err
	}()
	acks := 0
	for acks < burstChats {
		f, err := rc.next()
		if err != nil {
			t.Fatalf("after %d of %d acks: %v (alice: %s)", acks, burstChats, err, dumpEvents(a)[max(0, len(dumpEvents(a))-400):])
		}
		if f.Type == protocol.TypeChatAck {
			acks++
		}
	}
	if err := <-werr; err != nil {
		t.Fatalf("writing the burst: %v", err)
	}
	got := 0
	for _, e := range a.C.Events(0) {
		switch {
		case e.Type == api.EventChatReceived && e.From == "zed":
			got++
		case e.Type == api.EventChannelClosed:
			t.Fatalf("channel closed during the burst: %+v", e)
		}
	}
	if got != burstChats {
		t.Fatalf("%d chat_received events, want %d", got, burstChats)
	}
	if _, ok := channelTo(t, a, "zed"); !ok {
		t.Fatal("the channel to zed is gone")
	}
}

// TestPendingBounded (docs/protocol.md 2.5): a receiver that never
// acknowledges makes its sender hold at most 1,000 unacknowledged messages
// for it. The next send is refused, saying why (HTTP 429 on the control
// API), and counted; nothing already sent is dropped, and an ack makes room
// again.
func TestPendingBounded(t *testing.T) {
	srv := startServer(t)
	z := newRawUser(t, srv.Addr, "zed", false)
	a := clienttest.New(t, srv.Addr, "alice")
	const limit = 1000
	var first, last string
	for sent := 0; sent < limit; {
		id, _, err := a.C.SendChat("zed", "never acked")
		if errors.Is(err, client.ErrLimit) && strings.Contains(err.Error(), "outbound queue") {
			// the server link's queue is full for a moment: wait for zed
			// to take the last message sent, then go on.
			z.expectServer(protocol.TypeChatMessage, chatID(last))
			continue
		}
		if err != nil {
			t.Fatalf("send %d: %v", sent, err)
		}
		if first == "" {
			first = id
		}
		last = id
		sent++
	}
	_, _, err := a.C.SendChat("zed", "one too many")
	if !errors.Is(err, client.ErrLimit) || !strings.Contains(err.Error(), "unacknowledged messages to zed (1000)") {
		t.Fatalf("send %d: %v, want the pending limit", limit+1, err)
	}
	var se *api.StatusError
	if _, err := a.API.Chat(tctx(t), "zed", "over the API"); !errors.As(err, &se) || se.Status != http.StatusTooManyRequests {
		t.Fatalf("POST /v1/chat past the limit: %v, want 429", err)
	}
	st, err := a.API.Status(tctx(t))
	if err != nil || st.Limits["pending"] != 2 {
		t.Fatalf("status limits %+v %v, want pending=2", st.Limits, err)
	}
	waitEvent(t, a, "limit event", func(e api.Event) bool {
		return e.Type == api.EventLimit && strings.Contains(e.Reason, "unacknowledged")
	})
	// none of the 1,000 was dropped: each is still pending, and an ack for
	// the first makes room for one more.
	for _, e := range events(t, a) {
		if e.Type == api.EventChatFailed {
			t.Fatalf("a sent message failed: %+v", e)
		}
	}
	z.sendServer(protocol.MustFrame(protocol.TypeChatAck, protocol.ChatAck{MessageID: first, UserID: "zed", DestUserID: "alice"}))
	waitEvent(t, a, "ack", acked(first))
	if _, _, err := a.C.SendChat("zed", "room again"); err != nil {
		t.Fatalf("send after an ack: %v", err)
	}
}

// chatID matches a chat frame with messageID id.
func chatID(id string) func(protocol.Frame) bool {
	return func(f protocol.Frame) bool {
		var m protocol.Chat
		return f.DecodeBody(&m) == nil && m.MessageID == id
	}
}

// TestChannelTableBounded (docs/protocol.md 2.5): a version 1 client takes
// channels from any userID, so its channel table is bounded: a channel from
// a new peer past it is refused with Error forbidden naming the limit and
// counted, while the peers already in the table keep theirs. The same test
// bounds the P2PInfo log file: past its size it is moved to LOG.1 and a new
// one started, each hit counted.
func TestChannelTableBounded(t *testing.T) {
	t.Cleanup(client.SetBoundsForTest(100000, 2, 150))
	srv := startServer(t)
	a := clienttest.New(t, srv.Addr, "alice", asV1)
	var rcs []*rawChan
	for i := range 3 {
		rc := dialRaw(t, a.C.Listen(), netipZero)
		rc.send(protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: fmt.Sprintf("m%d", i)}))
		rcs = append(rcs, rc)
		if i < 2 {
			waitEvent(t, a, "channel", opened(fmt.Sprintf("m%d", i)))
		}
	}
	f := rcs[2].expect(protocol.TypeError)
	var e protocol.Error
	if err := f.DecodeBody(&e); err != nil || e.Code != protocol.CodeForbidden || !strings.Contains(e.Message, "channels") {
		t.Fatalf("third channel: %+v %v, want forbidden naming the channel limit", e, err)
	}
	rcs[2].expectClosed()
	for i, rc := range rcs[:2] {
		rc.send(protocol.MustFrame(protocol.TypeClientChatMessage, protocol.Chat{MessageID: "still", UserID: fmt.Sprintf("m%d", i), DestUserID: "alice"}))
		rc.expect(protocol.TypeChatAck)
	}
	st, err := a.API.Status(tctx(t))
	if err != nil || st.Limits["channels"] != 1 {
		t.Fatalf("status limits %+v %v, want channels=1", st.Limits, err)
	}
	// the log file went past 150 bytes: rotated, each file within bound
	eventually(t, "the P2PInfo log rotated", func() bool {
		st, err := a.API.Status(tctx(t))
		return err == nil && st.Limits["log"] > 0
	})
	for _, p := range []string{a.LogPath, a.LogPath + ".1"} {
		fi, err := os.Stat(p)
		if err != nil || fi.Size() > 150 {
			t.Fatalf("%s: %v, size %d, want at most 150 bytes", p, err, fi.Size())
		}
	}
}

// TestSeenBounded (docs/protocol.md 2.5): the duplicate filter forgets its
// oldest half when full, and says so (a limit event, a count); the chats
// themselves are all delivered.
func TestSeenBounded(t *testing.T) {
	t.Cleanup(client.SetBoundsForTest(10, 1024, 64<<20))
	_, a, rc := channelFromRaw(t)
	if _, err := rc.c.Write(chatBurst(t, "zed", "alice", "s", 12)); err != nil {
		t.Fatal(err)
	}
	for range 12 {
		rc.expect(protocol.TypeChatAck)
	}
	waitEvent(t, a, "limit event", func(e api.Event) bool {
		return e.Type == api.EventLimit && strings.Contains(e.Reason, "duplicate filter")
	})
	st, err := a.API.Status(tctx(t))
	if err != nil || st.Limits["seen"] != 1 {
		t.Fatalf("status limits %+v %v, want seen=1", st.Limits, err)
	}
	// still a filter: the newest key is remembered
	rc.send(protocol.MustFrame(protocol.TypeClientChatMessage, protocol.Chat{MessageID: "s-11", UserID: "zed", DestUserID: "alice", Content: "x"}))
	rc.expect(protocol.TypeChatAck)
	n := 0
	for _, e := range events(t, a) {
		if e.Type == api.EventChatReceived && e.MessageID == "s-11" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("s-11 reported %d times, want once", n)
	}
}

// relayFloodChats is the size of the tiny-frame flood below.
const relayFloodChats = 30000

// relayFloodWait bounds the wait for the whole flood to be reported.
const relayFloodWait = time.Minute

// TestRelayFloodThrottlesSender (docs/protocol.md 5.10): a user that floods
// a reference client with tiny relayed chats, written as fast as the
// socket takes them, does not get its victim cut as a slow consumer (the
// victim reads all it can): the server slows the sender to the victim's
// pace. The victim stays online and gets every chat.
func TestRelayFloodThrottlesSender(t *testing.T) {
	srv := startServer(t)
	a := clienttest.New(t, srv.Addr, "alice")
	m := newRawUser(t, srv.Addr, "mallory", false)
	waitEvent(t, a, "mallory online", func(e api.Event) bool { return e.Type == api.EventUserOnline && e.UserID == "mallory" })
	var buf bytes.Buffer
	for i := range relayFloodChats + 1 { // the last one marks the end
		f := protocol.MustFrame(protocol.TypeChatMessage, protocol.Chat{MessageID: fmt.Sprintf("f-%d", i), UserID: "mallory", DestUserID: "alice", Content: "x"})
		if err := protocol.WriteFrame(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	m.wmu.Lock()
	_ = m.srv.SetWriteDeadline(time.Now().Add(3 * waitTimeout))
	_, err := m.srv.Write(buf.Bytes())
	m.wmu.Unlock()
	if err != nil {
		t.Fatalf("flood: %v", err)
	}
	// the server keeps one sender's frames in order: the marker comes
	// last. What is checked is that every chat arrives and alice stays
	// online, not how fast: 30,000 chats take about 7 s at -race on an
	// idle machine, and more beside other packages' tests, so the wait is
	// bounded by relayFloodWait rather than waitTimeout.
	waitEventWithin(t, a, "the flood's last chat", relayFloodWait, func(e api.Event) bool {
		if e.Type == api.EventServerLost {
			t.Fatalf("alice lost the server during the flood: %+v", e)
		}
		return e.Type == api.EventChatReceived && e.MessageID == fmt.Sprintf("f-%d", relayFloodChats)
	})
	n := 0
	for _, e := range a.C.Events(0) {
		if e.Type == api.EventChatReceived && e.From == "mallory" {
			n++
		}
	}
	if n != relayFloodChats+1 {
		t.Fatalf("%d of %d flooded chats reported", n, relayFloodChats+1)
	}
	st, err := srv.Admin.Stats(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := st.User("alice"); !u.Online {
		t.Fatal("alice is offline after the flood")
	}
	t.Logf("relay throttled %d times", st.Totals.RelayThrottled)
}
