package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/server"
)

// TestMaxPending: connections that have not logged in are bounded
// (docs/protocol.md 5.1): beyond MaxPending a new one is closed at once and
// counted; a logged-in connection no longer counts, and a pending one that
// goes away frees its place.
func TestMaxPending(t *testing.T) {
	s := newServer(t, server.Config{MaxPending: 3})
	var idle []*peer
	for range 3 {
		idle = append(idle, dial(t, s))
	}
	eventually(t, "3 connections accepted", func() bool { return s.S.Stats().Totals.Connections == 3 })
	extra := dial(t, s)
	extra.user = "the fourth"
	extra.expectClosed()
	if n := s.S.Stats().Totals.PendingRefused; n != 1 {
		t.Fatalf("pendingRefused %d, want 1", n)
	}
	// one idle connection goes: its place is free for a login
	idle[0].nc.Close()
	eventually(t, "the closed connection released", func() bool { return s.S.Stats().Totals.Connections == 2 })
	alice := login(t, s, "alice")
	// alice logged in: she no longer counts, so one more may wait
	dial(t, s)
	eventually(t, "a new pending connection accepted", func() bool { return s.S.Stats().Totals.Connections == 4 })
	alice.send(protocol.Frame{Type: protocol.TypeGetP2PInfo}, 7)
	alice.expect(protocol.TypeResP2pInfo)
	if n := s.S.Stats().Totals.PendingRefused; n != 1 {
		t.Fatalf("pendingRefused %d, want still 1", n)
	}
	m, err := s.Admin.Metrics(t.Context())
	if err != nil || !strings.Contains(m, "p2plab_server_pending_refused_total 1\n") {
		t.Fatalf("/metrics (%v) lacks p2plab_server_pending_refused_total 1:\n%s", err, m)
	}
}

// TestQueueBytes: the outbound queue is bounded in bytes as well as frames
// (docs/protocol.md 5.10): with room for 100,000 frames but 256 KiB, a
// user who never reads is cut as a slow consumer after a few MB of 32 KiB
// messages (what the kernel's socket buffers hold plus the bound), long
// before the frame count matters.
func TestQueueBytes(t *testing.T) {
	s := newServer(t, server.Config{QueueLen: 100000, QueueBytes: 256 << 10})
	alice := login(t, s, "alice")
	bob := dial(t, s)
	bob.user = "bob"
	_ = bob.nc.SetReadBuffer(4096) // keep what the kernel absorbs small
	bob.send(protocol.MustFrame(protocol.TypeLogin, protocol.Login{UserID: "bob"}), 1)
	alice.expectNotify("bob", true)
	// bob stays alive (he writes) but never reads: only the queue can cut him
	defer keepAlive(t, bob, 200*time.Millisecond)()
	content := strings.Repeat("z", 32<<10)
	const most = 2000 // 64 MB: far more than the socket buffers hold
	cut := -1
	for i := range most {
		alice.send(chat("alice", "bob", fmt.Sprint(i), content), 0)
		if i%16 == 0 && s.S.Stats().Totals.Online == 1 {
			cut = i
			break
		}
	}
	if cut < 0 {
		eventually(t, "bob cut as a slow consumer", func() bool { return s.S.Stats().Totals.Online == 1 })
	}
	t.Logf("bob cut after %d messages of 32 KiB (queue bound 256 KiB)", cut)
	m, err := s.Admin.Metrics(t.Context())
	if err != nil || !strings.Contains(m, "p2plab_server_slow_consumers_total 1\n") {
		t.Fatalf("/metrics (%v): want one slow consumer:\n%s", err, m)
	}
}

// TestMaxOffline: the server remembers at most MaxOffline offline users
// (docs/protocol.md 8.2): the one offline longest is forgotten, an online
// user never is, and a forgotten user who logs in again starts from zero.
func TestMaxOffline(t *testing.T) {
	s := newServer(t, server.Config{MaxOffline: 2})
	alice := login(t, s, "alice")
	for i := range 4 {
		u := fmt.Sprint("u", i)
		p := login(t, s, u)
		alice.expectNotify(u, true)
		p.send(chat(u, "alice", u, "hi"), 0)
		alice.expectChat(u, u, "hi")
		p.nc.Close()
		alice.expectNotify(u, false)
	}
	st := s.S.Stats()
	var ids []string
	for _, u := range st.Users {
		ids = append(ids, u.UserID)
	}
	if got := strings.Join(ids, ","); got != "alice,u2,u3" || st.Totals.OfflineForgotten != 2 {
		t.Fatalf("users %s, forgotten %d; want alice,u2,u3 and 2", got, st.Totals.OfflineForgotten)
	}
	login(t, s, "u0")
	for _, u := range s.S.Stats().Users {
		if u.UserID == "u0" && u.Uploads != 0 {
			t.Fatalf("forgotten u0 came back with %d uploads", u.Uploads)
		}
	}
}
