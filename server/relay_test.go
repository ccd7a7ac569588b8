package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/server"
)

func TestRelayChatAndAck(t *testing.T) {
	s := newServer(t, server.Config{})
	alice := login(t, s, "alice")
	bob := login(t, s, "bob")
	alice.expect(protocol.TypeUserStateNotify)

	before := time.Now()
	alice.send(chat("alice", "bob", "m1", "hello bob"), 21)
	got := bob.expect(protocol.TypeChatMessage)
	var c protocol.Chat
	decode(t, got, &c)
	if c.UserID != "alice" || c.DestUserID != "bob" || c.MessageID != "m1" || c.Content != "hello bob" || c.SendTime != "2026-11-22T04:00:00Z" {
		t.Fatalf("relayed %+v", c)
	}
	if got.ID != 0 || got.Re != 0 {
		t.Fatalf("relayed frame carries id %d re %d", got.ID, got.Re)
	}
	bob.send(protocol.MustFrame(protocol.TypeChatAck, protocol.ChatAck{MessageID: "m1", UserID: "bob", DestUserID: "alice"}), 0)
	ack := alice.expect(protocol.TypeChatAck)
	var a protocol.ChatAck
	decode(t, ack, &a)
	if a.MessageID != "m1" || a.UserID != "bob" {
		t.Fatalf("ack %+v", a)
	}
	alice.expectSilent(100 * time.Millisecond) // no reply to a relayed frame

	st, err := s.Admin.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	au, _ := st.User("alice")
	bu, _ := st.User("bob")
	if au.Uploads != 1 || au.Downloads != 1 || bu.Uploads != 1 || bu.Downloads != 1 {
		t.Fatalf("counters alice %+v bob %+v", au, bu)
	}
	if au.LastUpload == nil || au.LastUpload.Before(before.Add(-time.Second)) || bu.LastDownload == nil {
		t.Fatalf("last times alice %+v bob %+v", au, bu)
	}
	if au.RelayedBytes < int64(len(c.Content)) || st.Totals.Uploads != 2 || st.Totals.Downloads != 2 {
		t.Fatalf("bytes %d totals %+v", au.RelayedBytes, st.Totals)
	}
}

func TestRelayFileFrames(t *testing.T) {
	s := newServer(t, server.Config{})
	alice := login(t, s, "alice")
	bob := login(t, s, "bob")
	alice.expect(protocol.TypeUserStateNotify)
	data := make([]byte, protocol.MaxChunkData)
	for i := range data {
		data[i] = byte(i)
	}
	frames := []protocol.Frame{
		protocol.MustFrame(protocol.TypeFileOffer, protocol.FileOffer{TransferID: "t1", DestUserID: "bob", FileName: "f.bin", Size: int64(len(data)), SHA256: "ab"}),
		protocol.MustFrame(protocol.TypeFileChunk, protocol.FileChunk{TransferID: "t1", DestUserID: "bob", Data: data}),
		protocol.MustFrame(protocol.TypeFileDone, protocol.FileDone{TransferID: "t1", DestUserID: "bob"}),
	}
	for _, f := range frames {
		alice.send(f, 0)
	}
	for _, want := range frames {
		got := bob.expect(want.Type)
		var r protocol.FileChunk
		decode(t, got, &r)
		if r.UserID != "alice" || r.TransferID != "t1" {
			t.Fatalf("%s: %+v", want.Type, r)
		}
		if want.Type == protocol.TypeFileChunk && string(r.Data) != string(data) {
			t.Fatalf("chunk data changed in relay")
		}
	}
	bob.send(protocol.MustFrame(protocol.TypeFileResult, protocol.FileResult{TransferID: "t1", DestUserID: "alice", OK: true}), 0)
	var res protocol.FileResult
	decode(t, alice.expect(protocol.TypeFileResult), &res)
	if !res.OK || res.UserID != "bob" {
		t.Fatalf("result %+v", res)
	}
	if u := s.S.Stats(); u.Totals.Uploads != 4 || u.Totals.RelayedBytes < int64(len(data)) {
		t.Fatalf("totals %+v", u.Totals)
	}
}

func TestRelaySenderEnforced(t *testing.T) {
	s := newServer(t, server.Config{})
	alice := login(t, s, "alice")
	bob := login(t, s, "bob")
	login(t, s, "mallory")
	alice.expect(protocol.TypeUserStateNotify)
	alice.expect(protocol.TypeUserStateNotify)
	bob.expect(protocol.TypeUserStateNotify)

	// No userID: the server fills in the sender.
	alice.sendPayload(`{"type":"ChatMessage","body":{"messageID":"m1","destUserID":"bob","content":"x","extra":[1]}}`)
	got := bob.expect(protocol.TypeChatMessage)
	var body map[string]any
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body["userID"] != "alice" || body["extra"] == nil {
		t.Fatalf("relayed body %s", got.Body)
	}

	// Claiming another sender is refused with forbidden and not forwarded;
	// the connection stays open.
	tests := []struct {
		name, payload string
		id            int64
	}{
		{"other userID", `{"type":"ChatMessage","id":4,"body":{"messageID":"m2","userID":"mallory","destUserID":"bob","content":"x"}}`, 4},
		{"case variant", `{"type":"ChatAck","body":{"messageID":"m2","userID":"alice","UserID":"mallory","destUserID":"bob"}}`, 0},
		{"file frame", `{"type":"FileOffer","id":6,"body":{"transferID":"t","userID":"bob","destUserID":"bob"}}`, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alice.sendPayload(tt.payload)
			e := alice.expectError(protocol.CodeForbidden, tt.id)
			if e.Message == "" {
				t.Fatal("forbidden without a message")
			}
		})
	}
	alice.send(chat("alice", "bob", "m3", "after"), 0)
	bob.expectChat("alice", "m3", "after") // the refused frames never arrived
	if u, _ := s.S.Stats().User("alice"); u.Uploads != 2 {
		t.Fatalf("alice uploads %d, want 2", u.Uploads)
	}
}

func TestRelayUserOffline(t *testing.T) {
	s := newServer(t, server.Config{})
	alice := login(t, s, "alice")
	alice.send(chat("alice", "nobody", "m1", "hi"), 8)
	if e := alice.expectError(protocol.CodeUserOffline, 8); e.MessageID != "m1" {
		t.Fatalf("user_offline names %+v, want messageID m1", e)
	}
	alice.send(protocol.MustFrame(protocol.TypeFileOffer, protocol.FileOffer{TransferID: "t9", DestUserID: "nobody"}), 0)
	if e := alice.expectError(protocol.CodeUserOffline, 0); e.TransferID != "t9" {
		t.Fatalf("user_offline names %+v, want transferID t9", e)
	}
	// A user who logged out is offline too.
	bob := login(t, s, "bob")
	alice.expect(protocol.TypeUserStateNotify)
	bob.send(protocol.Frame{Type: protocol.TypeLogout}, 0)
	bob.expectClosed()
	alice.expect(protocol.TypeUserStateNotify)
	alice.send(chat("alice", "bob", "m2", "gone?"), 3)
	alice.expectError(protocol.CodeUserOffline, 3)
	// The connection stays usable.
	alice.send(protocol.Frame{Type: protocol.TypeHeartbeat}, 12)
	if f := alice.expect(protocol.TypeHeartbeatAck); f.Re != 12 {
		t.Fatalf("HeartbeatAck re %d", f.Re)
	}
	if u, _ := s.S.Stats().User("alice"); u.Uploads != 0 {
		t.Fatalf("refused frames counted as uploads: %+v", u)
	}
}

func TestRelayMaxSizeFrame(t *testing.T) {
	s := newServer(t, server.Config{})
	alice := login(t, s, "alice")
	bob := login(t, s, "bob")
	alice.expectNotify("bob", true)
	// A ChatMessage of exactly MaxFrameLen payload bytes is relayed whole.
	prefix := `{"type":"ChatMessage","id":3,"body":{"messageID":"big","userID":"alice","destUserID":"bob","content":"`
	suffix := `"}}`
	content := strings.Repeat("q", protocol.MaxFrameLen-len(prefix)-len(suffix))
	alice.sendPayload(prefix + content + suffix)
	bob.expectChat("alice", "big", content)
	// One byte more is malformed: Error, and alice's connection closes.
	alice.sendPayload(prefix + content + "q" + suffix)
	alice.expectError(protocol.CodeBadFrame, 0)
	alice.expectClosed()
	bob.expectNotify("alice", false)
}
