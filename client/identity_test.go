package client_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
)

// rawUser11 is a hand-driven v1.1 user with a key the server vouches for.
type rawUser11 struct {
	*rawUser
	priv ed25519.PrivateKey
}

func newRawUser11(t *testing.T, srv netip.AddrPort, id string) *rawUser11 {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(nil)
	u := newRawUserLogin(t, srv, protocol.Login{UserID: id, Features: []string{protocol.FeatureID},
		Key: protocol.EncodeKey(pub)}, false)
	return &rawUser11{rawUser: u, priv: priv}
}

// keyOf asks the server for peer's vouched key.
func (u *rawUser11) keyOf(peer string) ed25519.PublicKey {
	u.t.Helper()
	u.sendServer(protocol.Frame{Type: protocol.TypeGetP2PInfo, ID: 99})
	f := u.expectServer(protocol.TypeResP2pInfo, nil)
	var info protocol.ResP2pInfo
	if err := json.Unmarshal(f.Body, &info); err != nil {
		u.t.Fatal(err)
	}
	for _, e := range info.Users {
		if e.UserID == peer {
			if k, ok := protocol.ParseKey(e.Key); ok {
				return k
			}
		}
	}
	u.t.Fatalf("raw %s: no key for %s in %s", u.id, peer, f.Body)
	return nil
}

// handshake runs the initiator's side of docs/protocol.md 9.4 on rc, as
// claimed (normally u.id) and signing with u's key; it reports whether the
// acceptor's proof checked.
func (u *rawUser11) handshake(rc *rawChan, claimed, peer string, peerKey ed25519.PublicKey) bool {
	u.t.Helper()
	nonceI := "bm9uY2UtaQ=="
	rc.send(protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: claimed, Nonce: nonceI}))
	f, err := rc.next()
	if err != nil || f.Type != protocol.TypeSetupP2PMessage {
		return false
	}
	var s protocol.SetupP2P
	if json.Unmarshal(f.Body, &s) != nil || s.UserID != peer {
		return false
	}
	ok := protocol.CheckProof(peerKey, protocol.Transcript(protocol.RoleAccept, claimed, peer, nonceI, s.Nonce), s.Proof)
	proof := protocol.Prove(u.priv, protocol.Transcript(protocol.RoleInitiate, claimed, peer, nonceI, s.Nonce))
	rc.send(protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: claimed, Proof: proof}))
	return ok
}

func logHas(t *testing.T, h *clienttest.Client, kind, peer string) bool {
	return countLog(p2pLog(t, h), kind, peer) > 0
}

// TestImpostorRefused: somebody who can reach alice's port claims to be bob
// (online, with a vouched key), with no proof, with a forged proof, or with
// a downgrade to the version 1 SetupP2PMessage; a user who never logged in
// tries too. Every one is refused, and alice's real channel to bob
// survives and still carries chat (issue: hostile peers).
func TestImpostorRefused(t *testing.T) {
	srv := startServer(t)
	a, b := pair(t, srv)
	before, _ := channelTo(t, a, "bob")
	mallory := newRawUser11(t, srv.Addr, "mallory")
	aKey := mallory.keyOf("alice")
	tests := []struct {
		name string
		try  func(rc *rawChan)
	}{
		{"v1 setup as bob", func(rc *rawChan) {
			rc.send(protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: "bob"}))
		}},
		{"forged proof as bob", func(rc *rawChan) {
			if !mallory.handshake(rc, "bob", "alice", aKey) {
				t.Error("alice's own proof did not check")
			}
		}},
		{"never logged in", func(rc *rawChan) {
			rc.send(protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: "ghost", Nonce: "eA=="}))
		}},
		{"chat before the proof", func(rc *rawChan) {
			rc.send(protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: "bob", Nonce: "eA=="}))
			rc.send(protocol.MustFrame(protocol.TypeClientChatMessage, protocol.Chat{MessageID: "x", UserID: "bob", DestUserID: "alice"}))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, a.C.Listen(), netipZero)
			tt.try(rc)
			for {
				f, err := rc.next()
				if err != nil {
					break
				}
				if f.Type == protocol.TypeChatAck {
					t.Fatal("the impostor's chat was acknowledged")
				}
			}
		})
	}
	for _, e := range events(t, a) {
		if e.Type == api.EventChannelClosed || e.Type == api.EventChatReceived {
			t.Errorf("an impostor reached alice: %+v", e)
		}
	}
	if !logHas(t, a, protocol.LogRefused, "bob") || !logHas(t, a, protocol.LogRefused, "ghost") {
		t.Errorf("no refused lines in alice's log:\n%s", logText(t, a))
	}
	after, ok := channelTo(t, a, "bob")
	if !ok || after.Remote != before.Remote || after.OpenedAt != before.OpenedAt {
		t.Fatalf("channel to bob %+v, want the original %+v", after, before)
	}
	res, err := b.API.Chat(tctx(t), "alice", "it is really me")
	if err != nil || res.Via != api.ViaP2P {
		t.Fatalf("chat %+v %v", res, err)
	}
	waitEvent(t, a, "bob's chat", received(res.MessageID))
	// A user with a key who proves it is taken.
	rc := dialRaw(t, a.C.Listen(), netipZero)
	if !mallory.handshake(rc, "mallory", "alice", aKey) {
		t.Fatal("alice's proof did not check")
	}
	if e := waitEvent(t, a, "mallory's channel", opened("mallory")); e.Transport != protocol.TransportTCP {
		t.Fatalf("channel_opened %+v: want transport tcp", e)
	}
}

// TestForgedAckIgnored: a ChatAck on carol's channel for a message alice
// sent to bob is ignored; bob's own ack (relayed) delivers it.
func TestForgedAckIgnored(t *testing.T) {
	srv := startServer(t)
	a := clienttest.New(t, srv.Addr, "alice")
	bob := newRawUser(t, srv.Addr, "bob", false) // v1, not listening: relay
	carol := newRawUser11(t, srv.Addr, "carol")
	rc := dialRaw(t, a.C.Listen(), netipZero)
	if !carol.handshake(rc, "carol", "alice", carol.keyOf("alice")) {
		t.Fatal("handshake")
	}
	waitEvent(t, a, "carol's channel", opened("carol"))
	res, err := a.API.Chat(tctx(t), "bob", "for bob only")
	if err != nil || res.Via != api.ViaRelay {
		t.Fatalf("chat %+v %v", res, err)
	}
	bob.expectServer(protocol.TypeChatMessage, nil)
	for _, uid := range []string{"bob", ""} {
		rc.send(protocol.MustFrame(protocol.TypeChatAck, protocol.ChatAck{MessageID: res.MessageID, UserID: uid, DestUserID: "alice"}))
	}
	// frames on one channel are handled in order: once this probe is in,
	// the forged acks were handled.
	rc.send(protocol.MustFrame(protocol.TypeClientChatMessage, protocol.Chat{MessageID: "probe", UserID: "carol", DestUserID: "alice"}))
	waitEvent(t, a, "probe", received("probe"))
	for _, e := range events(t, a) {
		if e.Type == api.EventChatAcked {
			t.Fatalf("a forged ack was believed: %+v", e)
		}
	}
	bob.sendServer(protocol.MustFrame(protocol.TypeChatAck, protocol.ChatAck{MessageID: res.MessageID, UserID: "bob", DestUserID: "alice"}))
	if e := waitEvent(t, a, "bob's ack", acked(res.MessageID)); e.Via != api.ViaRelay {
		t.Fatalf("acked %+v, want via relay", e)
	}
}

// TestInjectedChunkIgnored: while bob sends alice a file through the
// server, carol injects chunks for that transfer over her own channel; they
// are ignored (or refused), and bob's file arrives intact.
func TestInjectedChunkIgnored(t *testing.T) {
	srv := startServer(t)
	a := clienttest.New(t, srv.Addr, "alice")
	bob := newRawUser(t, srv.Addr, "bob", false)
	carol := newRawUser11(t, srv.Addr, "carol")
	rc := dialRaw(t, a.C.Listen(), netipZero)
	if !carol.handshake(rc, "carol", "alice", carol.keyOf("alice")) {
		t.Fatal("handshake")
	}
	waitEvent(t, a, "carol's channel", opened("carol"))
	data := []byte("the real file, whole and unchanged")
	sum := sha256.Sum256(data)
	bob.sendServer(protocol.MustFrame(protocol.TypeFileOffer, protocol.FileOffer{TransferID: "t1", UserID: "bob", DestUserID: "alice",
		FileName: "real.txt", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}))
	// the offer is in once a relayed probe after it is
	bob.sendServer(protocol.MustFrame(protocol.TypeChatMessage, protocol.Chat{MessageID: "p1", UserID: "bob", DestUserID: "alice"}))
	waitEvent(t, a, "bob's probe", received("p1"))
	rc.send(protocol.MustFrame(protocol.TypeFileChunk, protocol.FileChunk{TransferID: "t1", DestUserID: "alice", Offset: 0, Data: []byte("evil")}))
	rc.send(protocol.MustFrame(protocol.TypeFileDone, protocol.FileDone{TransferID: "t1", DestUserID: "alice"}))
	rc.send(protocol.MustFrame(protocol.TypeClientChatMessage, protocol.Chat{MessageID: "p2", UserID: "carol", DestUserID: "alice"}))
	waitEvent(t, a, "carol's probe", received("p2"))
	// naming bob on carol's channel is refused outright
	rc.send(protocol.MustFrame(protocol.TypeFileChunk, protocol.FileChunk{TransferID: "t1", UserID: "bob", DestUserID: "alice", Offset: 0, Data: []byte("evil")}))
	waitEvent(t, a, "carol's channel closed", isType(api.EventChannelClosed))
	bob.sendServer(protocol.MustFrame(protocol.TypeFileChunk, protocol.FileChunk{TransferID: "t1", UserID: "bob", DestUserID: "alice", Offset: 0, Data: data}))
	bob.sendServer(protocol.MustFrame(protocol.TypeFileDone, protocol.FileDone{TransferID: "t1", UserID: "bob", DestUserID: "alice"}))
	e := waitEvent(t, a, "bob's file", func(e api.Event) bool {
		return e.TransferID == "t1" && (e.Type == api.EventFileReceived || e.Type == api.EventFileFailed)
	})
	if e.Type != api.EventFileReceived || e.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("bob's transfer: %+v", e)
	}
	_ = time.Second
}

// acceptHandshake runs the acceptor's side of docs/protocol.md 9.4 on rc
// for initiator peer; it returns the initiator's first SetupP2PMessage and
// whether its proof checked.
func (u *rawUser11) acceptHandshake(rc *rawChan, peer string, peerKey ed25519.PublicKey) (protocol.SetupP2P, bool) {
	u.t.Helper()
	var first, last protocol.SetupP2P
	if err := json.Unmarshal(rc.expect(protocol.TypeSetupP2PMessage).Body, &first); err != nil {
		u.t.Fatal(err)
	}
	nonceA := "bm9uY2UtYQ=="
	proof := protocol.Prove(u.priv, protocol.Transcript(protocol.RoleAccept, peer, u.id, first.Nonce, nonceA))
	rc.send(protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: u.id, Nonce: nonceA, Proof: proof}))
	if err := json.Unmarshal(rc.expect(protocol.TypeSetupP2PMessage).Body, &last); err != nil {
		u.t.Fatal(err)
	}
	return first, protocol.CheckProof(peerKey, protocol.Transcript(protocol.RoleInitiate, peer, u.id, first.Nonce, nonceA), last.Proof)
}
