package client_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
)

// waitTimeout bounds every wait for an event in these tests.
const waitTimeout = 10 * time.Second

// tctx is a context bounded by waitTimeout and the test.
func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// waitEvent long-polls h's events until one matches, and returns it.
func waitEvent(t *testing.T, h *clienttest.Client, what string, match func(api.Event) bool) api.Event {
	t.Helper()
	return waitEventWithin(t, h, what, waitTimeout, match)
}

// waitEventWithin is waitEvent with a deadline of its own, for a wait at
// the end of bulk work whose length grows with the load on the machine.
func waitEventWithin(t *testing.T, h *clienttest.Client, what string, d time.Duration, match func(api.Event) bool) api.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var after int64
	for {
		evs, err := h.API.Events(ctx, after, 2*time.Second)
		if err != nil {
			t.Fatalf("%s: waiting for %s: %v (events so far: %s)", h.C.UserID(), what, err, dumpEvents(h))
		}
		for _, e := range evs {
			if match(e) {
				return e
			}
			after = e.Seq
		}
	}
}

// events returns all events of h so far.
func events(t *testing.T, h *clienttest.Client) []api.Event {
	t.Helper()
	evs, err := h.API.Events(tctx(t), 0, 0)
	if err != nil {
		t.Fatalf("events: %v", err)
	}
	return evs
}

func dumpEvents(h *clienttest.Client) string {
	var b strings.Builder
	for _, e := range h.C.Events(0) {
		fmt.Fprintf(&b, "\n  %d %s peer=%s user=%s from=%s to=%s id=%s via=%s reason=%s", e.Seq, e.Type, e.Peer, e.UserID, e.From, e.To, e.MessageID+e.TransferID, e.Via, e.Reason)
	}
	return b.String()
}

func isType(typ string) func(api.Event) bool {
	return func(e api.Event) bool { return e.Type == typ }
}

func opened(peer string) func(api.Event) bool {
	return func(e api.Event) bool { return e.Type == api.EventChannelOpened && e.Peer == peer }
}

func closedWith(peer, reason string) func(api.Event) bool {
	return func(e api.Event) bool {
		return e.Type == api.EventChannelClosed && e.Peer == peer && e.Reason == reason
	}
}

func received(id string) func(api.Event) bool {
	return func(e api.Event) bool { return e.Type == api.EventChatReceived && e.MessageID == id }
}

func acked(id string) func(api.Event) bool {
	return func(e api.Event) bool { return e.Type == api.EventChatAcked && e.MessageID == id }
}

// p2pLog fetches and parses h's P2PInfo log; every line must parse.
func p2pLog(t *testing.T, h *clienttest.Client) []protocol.LogEntry {
	t.Helper()
	text, err := h.API.Log(tctx(t))
	if err != nil {
		t.Fatalf("log: %v", err)
	}
	es, err := protocol.ParseLog(text)
	if err != nil {
		t.Fatalf("%s: P2PInfo log does not parse: %v\n%s", h.C.UserID(), err, text)
	}
	return es
}

// countLog counts entries of kind (and peer, if not "").
func countLog(es []protocol.LogEntry, kind, peer string) int {
	n := 0
	for _, e := range es {
		if e.Kind == kind && (peer == "" || e.Peer == peer) {
			n++
		}
	}
	return n
}

// channelTo returns h's channel to peer.
func channelTo(t *testing.T, h *clienttest.Client, peer string) (api.Channel, bool) {
	t.Helper()
	cs, err := h.API.Channels(tctx(t))
	if err != nil {
		t.Fatalf("channels: %v", err)
	}
	for _, c := range cs {
		if c.Peer == peer {
			return c, true
		}
	}
	return api.Channel{}, false
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// asV1 makes a client a protocol version 1 client (docs/protocol.md 9.2):
// tests of version 1 behaviour drive it with hand-made peers that prove no
// identity.
var asV1 = clienttest.WithConfig(func(c *client.Config) { c.Version1 = true })

// logText is h's P2PInfo log as text, for failure messages.
func logText(t *testing.T, h *clienttest.Client) string {
	t.Helper()
	text, err := h.API.Log(tctx(t))
	if err != nil {
		return "(log: " + err.Error() + ")"
	}
	return text
}
