package client_test

import (
	"testing"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
)

// TestHostilePeer: frames a misbehaving peer might send, each on its own
// channel, never crash the client nor disturb its other channel or its
// server connection. Well-formed but senseless frames (acks and chunks for
// nothing, results for unknown transfers, absurd offers) are ignored or
// refused; malformed ones close that channel only.
func TestHostilePeer(t *testing.T) {
	srv := startServer(t)
	a, b := pair(t, srv)
	raw := func(typ, body string) protocol.Frame {
		return protocol.Frame{Type: typ, ID: 3, Body: []byte(body)}
	}
	frames := []protocol.Frame{
		raw(protocol.TypeChatAck, `{"messageID":"nope","userID":"mallory","destUserID":"alice"}`),
		raw(protocol.TypeFileChunk, `{"transferID":"none","userID":"mallory","destUserID":"alice","offset":0,"data":"aGk="}`),
		raw(protocol.TypeFileDone, `{"transferID":"none","userID":"mallory","destUserID":"alice"}`),
		raw(protocol.TypeFileResult, `{"transferID":"none","userID":"mallory","destUserID":"alice","ok":true}`),
		raw(protocol.TypeFileOffer, `{"transferID":"big","userID":"mallory","destUserID":"alice","fileName":"x","size":99999999999999,"sha256":"00"}`),
		raw(protocol.TypeFileOffer, `{"transferID":"neg","userID":"mallory","destUserID":"alice","fileName":"","size":-1,"sha256":"zz"}`),
		raw(protocol.TypeFileOffer, `{"transferID":"","userID":"mallory","destUserID":"alice"}`),
		raw(protocol.TypeFileChunk, `{"transferID":"x","offset":"zero"}`),
		raw(protocol.TypeClientChatMessage, `{"messageID":"","userID":"mallory","destUserID":"alice"}`),
		raw(protocol.TypeClientChatMessage, `{"messageID":"m","userID":"mallory","destUserID":"someone-else"}`),
		raw(protocol.TypeClientChatMessage, `{"messageID":["m"]}`),
		raw(protocol.TypeSetupP2PMessage, `{"userID":"somebody-else"}`),
		raw(protocol.TypeSetupP2PMessage, `{"userID":7}`),
		raw(protocol.TypeLogin, `{"userID":"mallory"}`),
		raw(protocol.TypeUserStateNotify, `{"userID":"bob","onLine":false}`),
		raw(protocol.TypeError, `{"code":"bad_frame"}`),
		raw("NoSuchType", `{}`),
		raw(protocol.TypeHeartbeat, `{"x":1}`),
		raw(protocol.TypeHeartbeatAck, ``),
	}
	for _, f := range frames {
		rc := dialRaw(t, a.C.Listen(), netipZero)
		rc.send(protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: "mallory"}))
		rc.send(f)
		// a well-formed chat after it: either it arrives (the hostile
		// frame was ignored) or the channel was closed.
		probe := protocol.MustFrame(protocol.TypeClientChatMessage, protocol.Chat{MessageID: "probe-" + f.Type + string(f.Body), UserID: "mallory", DestUserID: "alice"})
		rc.send(probe)
		for {
			g, err := rc.next()
			if err != nil || g.Type == protocol.TypeChatAck {
				break
			}
		}
		rc.reset()
	}
	// alice is fine: still online, the channel to bob still carries chat
	if st, _ := a.API.Status(tctx(t)); !st.Online {
		t.Fatal("alice went offline")
	}
	res, err := a.API.Chat(tctx(t), "bob", "still standing")
	if err != nil || res.Via != api.ViaP2P {
		t.Fatalf("chat %+v %v", res, err)
	}
	waitEvent(t, b, "chat", received(res.MessageID))
	if _, ok := channelTo(t, a, "bob"); !ok {
		t.Fatal("the channel to bob was disturbed")
	}
	// a UserStateNotify from a peer is not the server's: bob is not offline
	for _, e := range events(t, a) {
		if e.Type == api.EventUserOffline {
			t.Errorf("a peer's UserStateNotify was believed: %+v", e)
		}
	}
	p2pLog(t, a) // every line still parses
}
