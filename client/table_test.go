package client_test

import (
	"net/netip"
	"sync"
	"testing"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
)

// TestReplaceSameInitiator covers docs/protocol.md 6.4: a second channel for a userID
// that already has one, opened by the same side, replaces it: the old one
// is closed with reason "replaced" and the new one is in the table.
func TestReplaceSameInitiator(t *testing.T) {
	srv := startServer(t)
	a := clienttest.New(t, srv.Addr, "alice", asV1)
	setup := protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: "zed"})
	first := dialRaw(t, a.C.Listen(), netipZero)
	first.send(setup)
	waitEvent(t, a, "first channel", opened("zed"))
	second := dialRaw(t, a.C.Listen(), netipZero)
	second.send(setup)
	waitEvent(t, a, "first channel replaced", closedWith("zed", protocol.ReasonReplaced))
	first.expectClosed()
	ch, ok := channelTo(t, a, "zed")
	if !ok || ch.Remote != second.c.LocalAddr().String() {
		t.Fatalf("alice's channel to zed %+v, want the second connection from %s", ch, second.c.LocalAddr())
	}
	// the new channel works: a chat over it arrives via p2p
	m := protocol.MustFrame(protocol.TypeClientChatMessage, protocol.Chat{MessageID: "z1", UserID: "zed", DestUserID: "alice", Content: "hi"})
	second.send(m)
	if e := waitEvent(t, a, "chat over the new channel", received("z1")); e.Via != api.ViaP2P {
		t.Errorf("via %q", e.Via)
	}
	second.expect(protocol.TypeChatAck)
}

// TestTieBreak covers docs/protocol.md 6.4's tie-break: alice (a newcomer) dials a
// raw user, then that user also dials alice, so two channels to one peer
// exist. Alice keeps the one initiated by the lexicographically smaller
// userID and closes the other with "replaced", whichever came first.
func TestTieBreak(t *testing.T) {
	for _, tc := range []struct {
		peer     string
		keepMine bool // alice < peer: alice's own dial wins
	}{
		{peer: "zed", keepMine: true},
		{peer: "aaron", keepMine: false},
	} {
		t.Run(tc.peer, func(t *testing.T) {
			srv := startServer(t)
			p := newRawUser(t, srv.Addr, tc.peer, true)
			a := clienttest.New(t, srv.Addr, "alice")
			mine := p.accept() // alice's dial (she is the newcomer)
			if f := mine.expect(protocol.TypeSetupP2PMessage); string(f.Body) == "" {
				t.Fatal("empty SetupP2PMessage")
			}
			waitEvent(t, a, "alice's channel", opened(tc.peer))
			theirs := dialRaw(t, a.C.Listen(), netipZero)
			theirs.send(protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: tc.peer}))
			waitEvent(t, a, "loser replaced", closedWith(tc.peer, protocol.ReasonReplaced))
			kept, lost, wantInit := mine, theirs, "alice"
			if !tc.keepMine {
				kept, lost, wantInit = theirs, mine, tc.peer
			}
			lost.expectClosed()
			ch, ok := channelTo(t, a, tc.peer)
			if !ok || ch.Initiator != wantInit || ch.Remote != kept.c.LocalAddr().String() {
				t.Fatalf("kept %+v, want initiator %s remote %s", ch, wantInit, kept.c.LocalAddr())
			}
			// the kept channel carries alice's chat
			res, err := a.API.Chat(tctx(t), tc.peer, "which one?")
			if err != nil || res.Via != api.ViaP2P {
				t.Fatalf("chat %+v %v", res, err)
			}
			kept.expect(protocol.TypeClientChatMessage)
		})
	}
}

// TestSimultaneousLogin: two clients that log in at the same time may both
// dial each other (crossing dials on the same endpoints). Whatever happens,
// they converge on exactly one channel, the same TCP connection on both
// ends, with the same initiator.
func TestSimultaneousLogin(t *testing.T) { simultaneousLogin(t) }

// simultaneousLogin is TestSimultaneousLogin for clients made with opts.
func simultaneousLogin(t *testing.T, opts ...clienttest.Option) {
	srv := startServer(t)
	var a, b *clienttest.Client
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a = clienttest.New(t, srv.Addr, "alice", opts...) }()
	go func() { defer wg.Done(); b = clienttest.New(t, srv.Addr, "bob", opts...) }()
	wg.Wait()
	if a == nil || b == nil {
		t.FailNow()
	}
	eventually(t, "both ends agree on one channel", func() bool {
		ca, oka := channelTo(t, a, "bob")
		cb, okb := channelTo(t, b, "alice")
		return oka && okb && ca.Local == cb.Remote && ca.Remote == cb.Local && ca.Initiator == cb.Initiator
	})
	ca, _ := channelTo(t, a, "bob")
	if ca.Local != a.C.Listen().String() || ca.Remote != b.C.Listen().String() {
		t.Errorf("channel %s->%s, want between the listen endpoints %s and %s", ca.Local, ca.Remote, a.C.Listen(), b.C.Listen())
	}
	res, err := a.API.Chat(tctx(t), "bob", "hi")
	if err != nil || res.Via != api.ViaP2P {
		t.Fatalf("chat %+v %v", res, err)
	}
	waitEvent(t, b, "chat", received(res.MessageID))
}

// TestMalformedFrameClosesOnlyThatChannel: garbage on one channel closes
// that channel with an Error bad_frame; alice's other channel and her
// server connection are untouched.
func TestMalformedFrameClosesOnlyThatChannel(t *testing.T) {
	srv := startServer(t)
	a, b := pair(t, srv, asV1)
	for _, tc := range []struct {
		name    string
		payload []byte // raw bytes after the SetupP2PMessage
	}{
		{"not json", append([]byte{0, 0, 0, 3}, "xyz"...)},
		{"zero length", []byte{0, 0, 0, 0}},
		{"too long", []byte{0x7f, 0xff, 0xff, 0xff}},
		{"no type", append([]byte{0, 0, 0, 2}, "{}"...)},
		{"bad chat body", frameBytes(t, protocol.Frame{Type: protocol.TypeClientChatMessage, Body: []byte(`{"messageID":5}`)})},
		{"forged sender", frameBytes(t, protocol.MustFrame(protocol.TypeClientChatMessage, protocol.Chat{MessageID: "x", UserID: "bob", DestUserID: "alice"}))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, a.C.Listen(), netipZero)
			rc.send(protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: "mallory"}))
			waitEvent(t, a, "mallory's channel", opened("mallory"))
			if _, err := rc.c.Write(tc.payload); err != nil {
				t.Fatal(err)
			}
			if f := rc.expect(protocol.TypeError); f.Type != protocol.TypeError {
				t.Fatal("no Error")
			}
			rc.expectClosed()
			waitEvent(t, a, "mallory closed", closedWith("mallory", protocol.ReasonConnectionLost))
		})
	}
	// the first frame must be SetupP2PMessage
	rc := dialRaw(t, a.C.Listen(), netipZero)
	rc.send(protocol.MustFrame(protocol.TypeClientChatMessage, protocol.Chat{MessageID: "x", UserID: "eve", DestUserID: "alice"}))
	rc.expect(protocol.TypeError)
	rc.expectClosed()
	res, err := a.API.Chat(tctx(t), "bob", "still fine")
	if err != nil || res.Via != api.ViaP2P {
		t.Fatalf("chat after the garbage: %+v %v", res, err)
	}
	waitEvent(t, b, "chat", received(res.MessageID))
	if st, _ := a.API.Status(tctx(t)); !st.Online {
		t.Error("alice lost the server")
	}
}

func frameBytes(t *testing.T, f protocol.Frame) []byte {
	b, err := protocol.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var _ = netip.AddrPort{}
