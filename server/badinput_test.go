package server_test

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/server"
)

func header(n uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], n)
	return string(b[:])
}

// expect2 reads the next non-Heartbeat frame, which must be of type a or b.
func (p *peer) expect2(a, b string) protocol.Frame {
	p.t.Helper()
	f, err := p.next(wait)
	if err != nil {
		p.t.Fatalf("%s: waiting for %s or %s: %v", p.user, a, b, err)
	}
	if f.Type != a && f.Type != b {
		p.t.Fatalf("%s: got %s %s, want %s or %s", p.user, f.Type, f.Body, a, b)
	}
	return f
}

func framed(payload string) string { return header(uint32(len(payload))) + payload }

// TestBadInputClosesOnlyThatConnection sends every kind of bad input from a
// logged-in client and checks the Error it gets, that its connection is
// closed, and that two other clients keep relaying through the same server.
func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	tests := []struct {
		name  string
		bytes string
		code  string
		re    int64
	}{
		{"length 0", header(0), protocol.CodeBadFrame, 0},
		{"length over 1 MiB", header(protocol.MaxFrameLen + 1), protocol.CodeBadFrame, 0},
		{"length 4 GiB", header(0xffffffff) + "xxxx", protocol.CodeBadFrame, 0},
		// A bad header followed by a lot of data still gets its Error.
		{"length over 1 MiB with the data", header(2<<20) + strings.Repeat("x", 2<<20), protocol.CodeBadFrame, 0},
		{"not JSON", framed("hello"), protocol.CodeBadFrame, 0},
		{"invalid UTF-8", framed("{\"type\":\"Heartbeat\",\"x\":\"\xff\"}"), protocol.CodeBadFrame, 0},
		{"JSON array", framed(`[{"type":"Heartbeat"}]`), protocol.CodeBadFrame, 0},
		{"JSON null", framed(`null`), protocol.CodeBadFrame, 0},
		{"JSON string", framed(`"Heartbeat"`), protocol.CodeBadFrame, 0},
		{"trailing garbage", framed(`{"type":"Heartbeat"}x`), protocol.CodeBadFrame, 0},
		{"no type", framed(`{"id":3}`), protocol.CodeBadFrame, 3},
		{"empty type", framed(`{"type":"","id":4}`), protocol.CodeBadFrame, 4},
		{"type not a string", framed(`{"type":7,"id":4}`), protocol.CodeBadFrame, 4},
		{"non-integer id", framed(`{"type":"Heartbeat","id":1.5}`), protocol.CodeBadFrame, 0},
		{"string id", framed(`{"type":"Heartbeat","id":"2"}`), protocol.CodeBadFrame, 0},
		{"negative id", framed(`{"type":"Heartbeat","id":-2}`), protocol.CodeBadFrame, 0},
		{"body not an object", framed(`{"type":"GetP2PInfo","id":5,"body":[1]}`), protocol.CodeBadFrame, 5},
		{"relay without destUserID", framed(`{"type":"ChatMessage","id":6,"body":{"messageID":"m"}}`), protocol.CodeBadFrame, 6},
		{"relay with numeric userID", framed(`{"type":"ChatAck","id":7,"body":{"userID":1,"destUserID":"bob"}}`), protocol.CodeBadFrame, 7},
		{"unknown type", framed(`{"type":"Bogus","id":8}`), protocol.CodeUnknownType, 8},
		{"client-to-client type", framed(`{"type":"SetupP2PMessage","body":{"userID":"x"}}`), protocol.CodeUnknownType, 0},
		{"server-to-client type", framed(`{"type":"ResP2pInfo","id":9,"body":{"users":[]}}`), protocol.CodeUnknownType, 9},
		{"bad frame after good one", framed(`{"type":"Heartbeat","id":1}`) + framed(`{`), protocol.CodeBadFrame, 0},
	}
	s := newServer(t, server.Config{})
	alice := login(t, s, "alice")
	bob := login(t, s, "bob")
	alice.expectNotify("bob", true)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user := fmt.Sprintf("bad%d", i)
			p := login(t, s, user)
			alice.expectNotify(user, true)
			bob.expectNotify(user, true)
			p.sendRaw([]byte(tt.bytes))
			if strings.HasPrefix(tt.name, "bad frame after") {
				if f := p.expect(protocol.TypeHeartbeatAck); f.Re != 1 {
					t.Fatalf("HeartbeatAck re %d", f.Re)
				}
			}
			e := p.expectError(tt.code, tt.re)
			if e.Message == "" {
				t.Fatal("Error without a message")
			}
			p.expectClosed()
			alice.expectNotify(user, false)
			bob.expectNotify(user, false)
			msg := "after " + tt.name
			alice.send(chat("alice", "bob", user, msg), 0)
			bob.expectChat("alice", user, msg)
		})
	}
	eventually(t, "only alice and bob connected", func() bool {
		st := s.S.Stats()
		return st.Totals.Online == 2 && st.Totals.Connections == 2
	})
}

func TestStalledHalfFrame(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	s := newServer(t, server.Config{ReadTimeout: readTimeout})
	alice := login(t, s, "alice")
	bob := login(t, s, "bob")
	alice.expectNotify("bob", true)
	for _, tt := range []struct{ name, half string }{
		{"half header", "\x00\x00"},
		{"half payload", header(40) + `{"type":"Heartbeat"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := login(t, s, "staller")
			alice.expectNotify("staller", true)
			bob.expectNotify("staller", true)
			start := time.Now()
			p.sendRaw([]byte(tt.half))
			p.expectError(protocol.CodeBadFrame, 0)
			p.expectClosed()
			if took := time.Since(start); took < readTimeout || took > readTimeout+2*time.Second {
				t.Fatalf("cut after %v, want about %v", took, readTimeout)
			}
			alice.expectNotify("staller", false)
			alice.send(chat("alice", "bob", tt.name, "still fine"), 0)
			bob.expectNotify("staller", false)
			bob.expectChat("alice", tt.name, "still fine")
		})
	}
}

func TestSlowConsumer(t *testing.T) {
	s := newServer(t, server.Config{QueueLen: 8})
	alice := login(t, s, "alice")
	carol := login(t, s, "carol")
	alice.expectNotify("carol", true)
	bob := dial(t, s)
	bob.user = "bob"
	// bob never reads until the end.
	bob.send(protocol.MustFrame(protocol.TypeLogin, protocol.Login{UserID: "bob"}), 1)
	alice.expectNotify("bob", true)
	carol.expectNotify("bob", true)

	// Flood bob with 32 KiB messages until the server gives up on him; the
	// flood is bounded.
	content := strings.Repeat("z", 32<<10)
	refused, carolSawOffline := false, false
	for i := range 4000 {
		alice.send(chat("alice", "bob", fmt.Sprint(i), content), int64(i+1))
		// Meanwhile carol keeps getting her messages.
		if i%100 == 0 {
			alice.send(chat("alice", "carol", fmt.Sprint("c", i), "hi"), 0)
			if !carolSawOffline {
				f := carol.expect2(protocol.TypeChatMessage, protocol.TypeUserStateNotify)
				if f.Type == protocol.TypeChatMessage {
					var c protocol.Chat
					decode(t, f, &c)
					if c.MessageID != fmt.Sprint("c", i) {
						t.Fatalf("carol got %+v", c)
					}
					continue
				}
				carolSawOffline = true // bob was just cut
			}
			carol.expectChat("alice", fmt.Sprint("c", i), "hi")
		}
		if s.S.Stats().Totals.Online == 2 {
			refused = true
			break
		}
	}
	if !refused {
		t.Fatal("bob was never cut although he does not read")
	}
	// alice learns bob went offline (after user_offline refusals of the
	// messages that found his queue full or gone); later ones are refused.
	for {
		f := alice.expect2(protocol.TypeError, protocol.TypeUserStateNotify)
		if f.Type == protocol.TypeError {
			var e protocol.Error
			decode(t, f, &e)
			if e.Code != protocol.CodeUserOffline || e.MessageID == "" {
				t.Fatalf("alice got %+v", e)
			}
			continue
		}
		var n protocol.UserStateNotify
		decode(t, f, &n)
		if n.UserID != "bob" || n.OnLine {
			t.Fatalf("notify %+v", n)
		}
		break
	}
	alice.send(chat("alice", "bob", "late", "x"), 99999)
	for { // messages alice had pipelined before the notice are refused too
		var e protocol.Error
		f := alice.expect(protocol.TypeError)
		decode(t, f, &e)
		if e.Code != protocol.CodeUserOffline {
			t.Fatalf("alice got %+v", e)
		}
		if f.Re == 99999 {
			break
		}
	}
	if !carolSawOffline {
		carol.expectNotify("bob", false)
	}

	// bob finally reads: whole frames, then Error slow_consumer, then EOF.
	var last protocol.Frame
	bob.nc.SetReadDeadline(time.Now().Add(wait))
	for {
		f, err := bob.r.ReadFrame()
		if err != nil {
			if last.Type != protocol.TypeError {
				t.Fatalf("bob's stream ended with %v after %s, want Error slow_consumer then EOF", err, last.Type)
			}
			break
		}
		last = f
	}
	var e protocol.Error
	decode(t, last, &e)
	if e.Code != protocol.CodeSlowConsumer {
		t.Fatalf("last frame %+v", e)
	}
}
