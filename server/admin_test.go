package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/server"
)

func TestAdminAPI(t *testing.T) {
	s := newServer(t, server.Config{})
	ctx := context.Background()
	alice := login(t, s, "alice")
	bob := login(t, s, "bob")
	alice.expectNotify("bob", true)
	alice.send(chat("alice", "bob", "m1", "hi"), 0)
	bob.expectChat("alice", "m1", "hi")
	bob.send(protocol.Frame{Type: protocol.TypeLogout}, 0)
	bob.expectClosed()
	alice.expectNotify("bob", false)

	if err := s.Admin.Healthz(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := s.Admin.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Users) != 2 || st.Users[0].UserID != "alice" || st.Users[1].UserID != "bob" {
		t.Fatalf("users %+v", st.Users)
	}
	a, b := st.Users[0], st.Users[1]
	if !a.Online || b.Online || a.Uploads != 1 || b.Downloads != 1 || a.LastUpload == nil || b.LastDownload == nil || a.LastDownload != nil {
		t.Fatalf("alice %+v bob %+v", a, b)
	}
	if st.Totals != (api.Totals{Online: 1, Users: 2, Connections: st.Totals.Connections, Uploads: 1, Downloads: 1, RelayedBytes: a.RelayedBytes}) || a.RelayedBytes == 0 {
		t.Fatalf("totals %+v", st.Totals)
	}
	m, err := s.Admin.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"# TYPE p2plab_server_online_users gauge",
		"p2plab_server_online_users 1",
		"p2plab_server_relayed_frames_total 1",
		`p2plab_server_user_uploads_total{user="alice"} 1`,
		`p2plab_server_user_downloads_total{user="bob"} 1`,
		`p2plab_server_user_online{user="bob"} 0`,
	} {
		if !strings.Contains(m, line+"\n") {
			t.Errorf("metrics lack %q:\n%s", line, m)
		}
	}

	base := "http://" + s.AdminAddr.String()
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/nope", 404},
		{"POST", "/v1/stats", 405},
		{"DELETE", "/healthz", 405},
	} {
		req, _ := http.NewRequest(tt.method, base+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var eb api.ErrorBody
		if resp.StatusCode != tt.status || json.Unmarshal(body, &eb) != nil || eb.Error == "" {
			t.Errorf("%s %s: %d %s", tt.method, tt.path, resp.StatusCode, body)
		}
	}
}
