package client_test

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
)

// TestLadderBoundedChatStaysOnRelay: bob is a v1.1 peer that advertises
// punch and quic but refuses TCP and never answers a PunchConnect. Alice's
// ladder (docs/protocol.md 9.7) logs and reports every attempt (direct,
// tcp-punch, udp-punch), ends within its configured bound, and a chat sent
// while it runs goes by relay and arrives; no channel is left behind, and
// POST /v1/connect runs the ladder again within the same bound.
func TestLadderBoundedChatStaysOnRelay(t *testing.T) {
	const bound = 1500 * time.Millisecond
	srv := startServer(t)
	pub, _, _ := ed25519.GenerateKey(nil)
	bob := newRawUserLogin(t, srv.Addr, protocol.Login{UserID: "bob",
		Features: []string{protocol.FeatureID, protocol.FeaturePunch, protocol.FeatureQUIC},
		Key:      protocol.EncodeKey(pub)}, false)
	a := clienttest.New(t, srv.Addr, "alice", punching(protocol.MethodTCPPunch, protocol.MethodUDPPunch),
		clienttest.WithConfig(func(c *client.Config) { c.Ladder = bound }))

	bob.expectServer(protocol.TypePunchConnect, nil) // the ladder is in its punch phase
	res, err := a.API.Chat(tctx(t), "bob", "while the ladder runs")
	if err != nil || res.Via != api.ViaRelay {
		t.Fatalf("chat during the ladder: %+v %v, want via relay", res, err)
	}
	bob.expectServer(protocol.TypeChatMessage, func(f protocol.Frame) bool {
		var m protocol.Chat
		return json.Unmarshal(f.Body, &m) == nil && m.MessageID == res.MessageID
	})

	var first time.Time
	for _, m := range []string{protocol.MethodDirect, protocol.MethodTCPPunch, protocol.MethodUDPPunch} {
		try := waitEvent(t, a, "try "+m, func(e api.Event) bool { return e.Type == api.EventTry && e.Peer == "bob" && e.Method == m })
		if first.IsZero() {
			first = try.Time
		}
		failed := waitEvent(t, a, "try_failed "+m, func(e api.Event) bool {
			return e.Type == api.EventTryFailed && e.Peer == "bob" && e.Method == m
		})
		if m != protocol.MethodDirect && failed.Reason != "no answer" {
			t.Errorf("try_failed %s: reason %q, want %q", m, failed.Reason, "no answer")
		}
		if took := failed.Time.Sub(first); took > bound+500*time.Millisecond {
			t.Errorf("%s failed %v after the ladder started, bound %v", m, took, bound)
		}
	}
	log := p2pLog(t, a)
	for _, k := range []string{protocol.LogTry, protocol.LogTryFailed} {
		if n := countLog(log, k, "bob"); n != 3 {
			t.Errorf("%d %s lines for bob, want 3:\n%s", n, k, logText(t, a))
		}
	}
	if n := countEvents(events(t, a), isType(api.EventChannelOpened)); n != 0 {
		t.Fatalf("%d channels opened to a peer that never answered", n)
	}
	if one, err := a.API.Channel(tctx(t), "bob"); err != nil || one.Transport != api.TransportNone {
		t.Fatalf("GET /v1/channels/bob: %+v %v, want transport none", one, err)
	}

	// on demand: the same ladder, the same bound, a clear failure
	start := time.Now()
	_, err = a.API.Connect(tctx(t), "bob")
	took := time.Since(start)
	var ae *api.StatusError
	if !errors.As(err, &ae) || ae.Status != 502 {
		t.Fatalf("POST /v1/connect to a peer that never answers: %v, want 502", err)
	}
	if took > bound+time.Second {
		t.Errorf("POST /v1/connect took %v, bound %v", took, bound)
	}
	bob.expectServer(protocol.TypePunchConnect, nil)
}
