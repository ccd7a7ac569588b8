package client_test

import (
	"net/netip"
	"os"
	"testing"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
)

// TestFullMesh covers docs/protocol.md 6.1-6.4 and 7: three clients log in one
// after the other; each newcomer dials everyone already online; all three
// end with one channel per peer, both ends of each channel agree on the
// same TCP connection and initiator, and the P2PInfo logs say so.
func TestFullMesh(t *testing.T) {
	srv := startServer(t)
	a := clienttest.New(t, srv.Addr, "alice")
	waitEvent(t, a, "login", isType(api.EventLogin))
	b := clienttest.New(t, srv.Addr, "bob")
	waitEvent(t, a, "channel from bob", opened("bob"))
	c := clienttest.New(t, srv.Addr, "carol")
	waitEvent(t, a, "channel from carol", opened("carol"))
	waitEvent(t, b, "channel from carol", opened("carol"))
	// Each end reports its own side: the dialer's event can come after the
	// acceptor's, so wait on both ends of every pair.
	waitEvent(t, b, "bob's channel to alice", opened("alice"))
	waitEvent(t, c, "carol's channel to alice", opened("alice"))
	waitEvent(t, c, "carol's channel to bob", opened("bob"))
	hs := map[string]*clienttest.Client{"alice": a, "bob": b, "carol": c}

	for id, h := range hs {
		st, err := h.API.Status(tctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if !st.Online || st.UserID != id {
			t.Errorf("%s status = %+v, want online as %s", id, st, id)
		}
		// 1.2: the listen endpoint is the server connection's local endpoint
		if ap, err := netip.ParseAddrPort(st.Listen); err != nil || ap != h.C.Listen() {
			t.Errorf("%s listen %q, client says %s", id, st.Listen, h.C.Listen())
		}
	}
	// the newcomer initiates: bob dialed alice; carol dialed alice and bob.
	wantInit := map[[2]string]string{{"alice", "bob"}: "bob", {"alice", "carol"}: "carol", {"bob", "carol"}: "carol"}
	for pair, init := range wantInit {
		x, y := hs[pair[0]], hs[pair[1]]
		cx, ok := channelTo(t, x, pair[1])
		if !ok {
			t.Fatalf("%s has no channel to %s", pair[0], pair[1])
		}
		cy, ok := channelTo(t, y, pair[0])
		if !ok {
			t.Fatalf("%s has no channel to %s", pair[1], pair[0])
		}
		if cx.Local != cy.Remote || cx.Remote != cy.Local {
			t.Errorf("%s and %s disagree on the connection: %+v vs %+v", pair[0], pair[1], cx, cy)
		}
		if cx.Initiator != init || cy.Initiator != init {
			t.Errorf("channel %s-%s initiators %q/%q, want %q", pair[0], pair[1], cx.Initiator, cy.Initiator, init)
		}
		if cx.Transport != "tcp" {
			t.Errorf("transport %q", cx.Transport)
		}
		// the initiator dialed from its listen endpoint to the peer's
		ini, acc := hs[init], x
		if acc == ini {
			acc = y
		}
		ci, _ := channelTo(t, ini, acc.C.UserID())
		if ci.Local != ini.C.Listen().String() || ci.Remote != acc.C.Listen().String() {
			t.Errorf("channel %s->%s is %s->%s, want listen endpoints %s->%s", init, acc.C.UserID(), ci.Local, ci.Remote, ini.C.Listen(), acc.C.Listen())
		}
	}
	for id, h := range hs {
		cs, _ := h.API.Channels(tctx(t))
		if len(cs) != 2 {
			t.Errorf("%s has %d channels, want 2: %+v", id, len(cs), cs)
		}
	}
	// P2PInfo logs: carol prepared and created two channels, alice accepted two.
	lc := p2pLog(t, c)
	if countLog(lc, protocol.LogPrepare, "") != 2 || countLog(lc, protocol.LogCreated, "") != 2 || countLog(lc, protocol.LogAccepted, "") != 0 {
		t.Errorf("carol's log: %+v", lc)
	}
	for _, e := range lc {
		if e.Kind == protocol.LogCreated {
			want := hs[e.Peer].C.Listen()
			if e.Addr != want {
				t.Errorf("carol created %s at %s, want %s", e.Peer, e.Addr, want)
			}
		}
	}
	la := p2pLog(t, a)
	if countLog(la, protocol.LogAccepted, "bob") != 1 || countLog(la, protocol.LogAccepted, "carol") != 1 || countLog(la, protocol.LogPrepare, "") != 0 {
		t.Errorf("alice's log: %+v", la)
	}
	for _, e := range la {
		if e.Kind == protocol.LogAccepted && e.Addr != hs[e.Peer].C.Listen() {
			t.Errorf("alice accepted %s from %s, want its listen endpoint %s", e.Peer, e.Addr, hs[e.Peer].C.Listen())
		}
	}
	// the log file on disk holds the same lines the API serves
	for id, h := range hs {
		text, err := h.API.Log(tctx(t))
		if err != nil {
			t.Fatal(err)
		}
		disk, err := os.ReadFile(h.LogPath)
		if err != nil || string(disk) != text {
			t.Errorf("%s: log file (%v) differs from GET /v1/log:\n%s\n---\n%s", id, err, disk, text)
		}
	}
	// user_online: alice saw bob and carol come online
	waitEvent(t, a, "user_online carol", func(e api.Event) bool { return e.Type == api.EventUserOnline && e.UserID == "carol" })
}
