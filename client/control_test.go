package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
)

// rawHTTP sends one request to h's control socket and returns the status
// and body.
func rawHTTP(t *testing.T, h *clienttest.Client, method, path, body string) (int, string) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", h.Control)
	}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(tctx(t), method, "http://control"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestControlBadRequests: bad control requests get a 4xx and a JSON error
// naming the field.
func TestControlBadRequests(t *testing.T) {
	srv := startServer(t)
	a := clienttest.New(t, srv.Addr, "alice")
	for _, tc := range []struct {
		method, path, body string
		status             int
		mention            string
	}{
		{"POST", "/v1/chat", `{}`, 400, "to"},
		{"POST", "/v1/chat", `{"to":"bad id!","content":"x"}`, 400, "to"},
		{"POST", "/v1/chat", `{"to":"alice","content":"x"}`, 400, "to"},
		{"POST", "/v1/chat", `{"to":"bob","conten":"x"}`, 400, "conten"},
		{"POST", "/v1/chat", `{"to":`, 400, "body"},
		{"POST", "/v1/chat", ``, 400, "body"},
		{"POST", "/v1/chat", `{"to":"bob","content":7}`, 400, "content"},
		{"POST", "/v1/files", `{"to":"bob"}`, 400, "path"},
		{"POST", "/v1/files", `{"to":"bob","path":"/nonexistent/file"}`, 400, "path"},
		{"POST", "/v1/files", `{"path":"/etc/hostname"}`, 400, "to"},
		{"POST", "/v1/connect", `{}`, 400, "peer"},
		{"POST", "/v1/connect", `{"peer":"ghost"}`, 404, "peer"},
		{"GET", "/v1/events?after=-1", ``, 400, "after"},
		{"GET", "/v1/events?after=x", ``, 400, "after"},
		{"GET", "/v1/events?wait=soon", ``, 400, "wait"},
		{"GET", "/v1/events?limit=0", ``, 400, "limit"},
		{"GET", "/v1/events?limit=-1", ``, 400, "limit"},
		{"GET", "/v1/events?wait=-1s", ``, 400, "wait"},
		{"GET", "/v1/events?wait=9999999999h", ``, 400, "wait"},
		{"GET", "/v1/channels/bad%20id!", ``, 400, "peer"},
		{"POST", "/v1/channels/bob", `{}`, 405, "GET"},
		{"GET", "/v1/nope", ``, 404, "/v1/nope"},
		{"DELETE", "/v1/chat", ``, 405, "POST"},
		{"POST", "/v1/status", `{}`, 405, "GET"},
	} {
		status, body := rawHTTP(t, a, tc.method, tc.path, tc.body)
		if status != tc.status || !strings.Contains(body, `"error"`) || !strings.Contains(body, tc.mention) {
			t.Errorf("%s %s %s: %d %s, want %d naming %q", tc.method, tc.path, tc.body, status, body, tc.status, tc.mention)
		}
	}
	// nothing was sent
	if n := countEvents(events(t, a), isType(api.EventChatSent)); n != 0 {
		t.Errorf("%d chats sent by bad requests", n)
	}
}

// TestControlEvents: seq numbers start at 1 and increase by one; a
// long-poll with nothing new waits until an event arrives; after=N skips
// what was seen; the status and log routes answer.
func TestControlEvents(t *testing.T) {
	srv := startServer(t)
	a := clienttest.New(t, srv.Addr, "alice")
	evs := events(t, a)
	if len(evs) == 0 || evs[0].Seq != 1 || evs[0].Type != api.EventLogin || evs[0].UserID != "alice" || evs[0].Time.IsZero() {
		t.Fatalf("first events %+v", evs)
	}
	last := evs[len(evs)-1].Seq
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("seq %d at index %d", e.Seq, i)
		}
	}
	// nothing new: wait=0 answers at once with an empty list
	if evs, err := a.API.Events(tctx(t), last, 0); err != nil || len(evs) != 0 {
		t.Fatalf("after=%d: %+v %v", last, evs, err)
	}
	status, body := rawHTTP(t, a, "GET", "/v1/events?after=999", "")
	if status != 200 || strings.TrimSpace(body) != `{"events":[]}` {
		t.Errorf("empty answer %d %q", status, body)
	}
	// limit=1: the oldest event only; a limit above 1000 is capped, not refused
	if status, body := rawHTTP(t, a, "GET", "/v1/events?limit=1", ""); status != 200 || strings.Count(body, `"seq"`) != 1 {
		t.Errorf("limit=1: %d %q", status, body)
	}
	if status, body := rawHTTP(t, a, "GET", "/v1/events?limit=5000", ""); status != 200 || strings.Count(body, `"seq"`) != len(evs) {
		t.Errorf("limit=5000: %d %q, want all %d events", status, body, len(evs))
	}
	// a long-poll returns as soon as bob's arrival makes an event
	got := make(chan []api.Event, 1)
	errc := make(chan error, 1)
	go func() {
		evs, err := a.API.Events(context.Background(), last, 20*time.Second)
		got <- evs
		errc <- err
	}()
	start := time.Now()
	clienttest.New(t, srv.Addr, "bob")
	select {
	case evs := <-got:
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 || evs[0].Seq != last+1 {
			t.Fatalf("long-poll answered %+v", evs)
		}
		if time.Since(start) > 10*time.Second {
			t.Errorf("long-poll took %s", time.Since(start))
		}
	case <-time.After(waitTimeout):
		t.Fatal("long-poll did not return on a new event")
	}
	if _, err := a.API.Log(tctx(t)); err != nil {
		t.Fatal(err)
	}
}

// TestControlConnect: POST /v1/connect returns the open channel, or opens
// one on demand (here after the first one was torn down).
func TestControlConnect(t *testing.T) {
	srv := startServer(t)
	a, b := pair(t, srv)
	ch, err := a.API.Connect(tctx(t), "bob")
	if err != nil || ch.Peer != "bob" || ch.Initiator != "bob" {
		t.Fatalf("existing channel %+v %v", ch, err)
	}
	a.C.KillChannelForTest("bob")
	waitEvent(t, a, "closed", closedWith("bob", protocol.ReasonConnectionLost))
	waitEvent(t, b, "closed on bob's side", func(e api.Event) bool { return e.Type == api.EventChannelClosed && e.Peer == "alice" })
	ch, err = a.API.Connect(tctx(t), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if ch.Initiator != "alice" || ch.Local != a.C.Listen().String() || ch.Remote != b.C.Listen().String() {
		t.Fatalf("on-demand channel %+v", ch)
	}
	cb, ok := channelTo(t, b, "alice")
	if !ok || cb.Remote != ch.Local {
		eventually(t, "bob has the new channel", func() bool {
			cb, ok = channelTo(t, b, "alice")
			return ok && cb.Remote == ch.Local
		})
	}
	res, err := a.API.Chat(tctx(t), "bob", "again")
	if err != nil || res.Via != api.ViaP2P {
		t.Fatalf("chat %+v %v", res, err)
	}
	waitEvent(t, b, "chat", received(res.MessageID))
}

// TestLogoutAndQuit: logout closes every channel with reason "logout" and
// leaves the server; quit stops Run cleanly.
func TestLogoutAndQuit(t *testing.T) {
	srv := startServer(t)
	a, _ := pair(t, srv)
	if err := a.API.Logout(tctx(t)); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, "closed", closedWith("bob", protocol.ReasonLogout))
	waitEvent(t, a, "logout", isType(api.EventLogout))
	eventually(t, "server sees alice offline", func() bool {
		u, _ := userStats(t, srv, "alice")
		return !u.Online
	})
	var se *api.StatusError
	if _, err := a.API.Chat(tctx(t), "bob", "x"); !errors.As(err, &se) || se.Status != http.StatusConflict {
		t.Errorf("chat after logout: %v", err)
	}
	if err := a.API.Quit(tctx(t)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Err() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return after quit")
	}
}

// TestLoginRefused: a second client with a userID already online is refused
// by the server (already_online); Run returns the LoginError and the first
// session stays.
func TestLoginRefused(t *testing.T) {
	srv := startServer(t)
	a := clienttest.New(t, srv.Addr, "alice")
	c, err := client.New(client.Config{Server: srv.Addr, UserID: "alice", FilesDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	err = c.Run(ctx)
	var le *client.LoginError
	if !errors.As(err, &le) || le.Code != protocol.CodeAlreadyOnline {
		t.Fatalf("Run = %v, want a LoginError already_online", err)
	}
	if st, _ := a.API.Status(tctx(t)); !st.Online {
		t.Error("the first session went offline")
	}
}

// TestControlOverTCP: a control endpoint "IP:0" binds a real port, which
// ControlAddr reports and the API answers on.
func TestControlOverTCP(t *testing.T) {
	srv := startServer(t)
	h := clienttest.New(t, srv.Addr, "alice", clienttest.WithConfig(func(c *client.Config) { c.Control = "127.0.0.1:0" }))
	ap, err := netip.ParseAddrPort(h.C.ControlAddr())
	if err != nil || ap.Port() == 0 {
		t.Fatalf("ControlAddr %q", h.C.ControlAddr())
	}
	st, err := h.API.Status(tctx(t))
	if err != nil || st.UserID != "alice" || !st.Online {
		t.Fatalf("status over TCP: %+v %v", st, err)
	}
}
