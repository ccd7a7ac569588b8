package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
)

// fuzzRecorder is a minimal http.ResponseWriter for direct handler calls.
type fuzzRecorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (r *fuzzRecorder) Header() http.Header {
	if r.h == nil {
		r.h = http.Header{}
	}
	return r.h
}

func (r *fuzzRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

func (r *fuzzRecorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}

// fuzzPaths are the control API's routes but the two that stop the client
// (logout, quit), plus unknown ones.
var fuzzPaths = []string{"/v1/status", "/v1/channels", "/v1/chat", "/v1/files", "/v1/connect", "/v1/events", "/v1/log", "/v1/nope", "/"}

// FuzzControlRequest sends arbitrary control API requests (method, route,
// query, body) straight to the client's handler. The client is made but
// not started, so sends have no path. Every answer must have a valid
// status, a JSON body (but for /v1/log), and a non-empty {"error"} for
// every 4xx/5xx; nothing may panic or block beyond the request's context.
func FuzzControlRequest(f *testing.F) {
	dir := f.TempDir()
	c, err := New(Config{Server: netip.MustParseAddrPort("127.0.0.1:9"), UserID: "fuzzer", FilesDir: filepath.Join(dir, "files")})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.plog.close() })
	regular := filepath.Join(dir, "small.txt")
	if err := os.WriteFile(regular, []byte("hello"), 0o644); err != nil {
		f.Fatal(err)
	}
	h := c.routes()
	for _, s := range []struct {
		post  bool
		route uint8
		query string
		body  string
	}{
		{false, 0, "", ""},
		{true, 2, "", `{"to":"bob","content":"hi"}`},
		{true, 2, "", `{"to":"","content":"hi"}`},
		{true, 2, "", `{"to":"bob","content":"hi","extra":1}`},
		{true, 2, "", `{"to":"bob"} {"to":"carol"}`},
		{true, 3, "", `{"to":"bob","path":"` + regular + `"}`},
		{true, 4, "", `{"peer":"bob"}`},
		{false, 5, "after=3&wait=10ms&limit=2", ""},
		{false, 5, "after=-1", ""},
		{false, 5, "wait=forever", ""},
		{true, 0, "", ""},
		{false, 7, "", ""},
	} {
		f.Add(s.post, s.route, s.query, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, post bool, route uint8, query string, body []byte) {
		path := fuzzPaths[int(route)%len(fuzzPaths)]
		var req api.FileRequest
		if path == "/v1/files" && json.Unmarshal(body, &req) == nil && req.Path != "" {
			// Reading a FIFO or a device would block or never end: only
			// regular files (or nothing) may be named.
			if fi, err := os.Stat(req.Path); err == nil && !fi.Mode().IsRegular() {
				return
			}
		}
		method := http.MethodGet
		if post {
			method = http.MethodPost
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		r, err := http.NewRequestWithContext(ctx, method, "http://control"+path, io.NopCloser(bytes.NewReader(body)))
		if err != nil {
			t.Fatal(err)
		}
		r.URL.RawQuery = query
		w := &fuzzRecorder{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.ServeHTTP(w, r)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s %s?%s blocked for 5s", method, path, query)
		}
		if w.status < 200 || w.status > 599 {
			t.Fatalf("%s %s?%s: status %d", method, path, query, w.status)
		}
		if path == "/v1/log" && w.status == http.StatusOK {
			return
		}
		if !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s %s?%s: content type %q", method, path, query, w.Header().Get("Content-Type"))
		}
		var any map[string]any
		if err := json.Unmarshal(w.body.Bytes(), &any); err != nil {
			t.Fatalf("%s %s?%s: body is not a JSON object: %v: %q", method, path, query, err, w.body.String())
		}
		if w.status >= 400 {
			var eb api.ErrorBody
			if json.Unmarshal(w.body.Bytes(), &eb) != nil || eb.Error == "" {
				t.Fatalf("%s %s?%s: %d without an error message: %q", method, path, query, w.status, w.body.String())
			}
		}
	})
}
