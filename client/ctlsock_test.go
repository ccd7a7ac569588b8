package client_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/p2plab/p2plab/client"
	"github.com/p2plab/p2plab/client/clienttest"
)

// TestControlSocketPrivate: the control socket is 0600 even under umask
// 000, a second program cannot take over a live socket path, and a stale
// socket file is replaced (docs/control-api.md, trust model).
func TestControlSocketPrivate(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	srv := startServer(t)
	a := clienttest.New(t, srv.Addr, "alice")
	fi, err := os.Stat(a.Control)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); fi.Mode()&os.ModeSocket == 0 || perm != 0o600 {
		t.Fatalf("control socket mode %v, want a socket with 0600", fi.Mode())
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where New makes its files dir
	_, err = client.New(client.Config{Server: srv.Addr, UserID: "mallory", Control: a.Control})
	if !errors.Is(err, client.ErrControlInUse) {
		t.Fatalf("a second client on alice's live socket: %v, want ErrControlInUse", err)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "p2plab-files-*")); len(left) > 0 {
		t.Errorf("the failed New left its files dir behind: %v", left)
	}
	if _, err := a.API.Status(tctx(t)); err != nil {
		t.Fatalf("alice's control API after the attempt: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(a.Control))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".ctl-") {
			t.Errorf("left behind %s", e.Name())
		}
	}
}

// TestSendFIFORefused: POST /v1/files with a FIFO answers at once with a
// 400 naming the path instead of hanging the request.
func TestSendFIFORefused(t *testing.T) {
	srv := startServer(t)
	a := clienttest.New(t, srv.Addr, "alice")
	clienttest.New(t, srv.Addr, "bob")
	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	status, body := rawHTTP(t, a, "POST", "/v1/files", `{"to":"bob","path":"`+fifo+`"}`)
	if status != 400 || !strings.Contains(body, "path") {
		t.Fatalf("POST /v1/files with a FIFO: %d %s, want 400 naming path", status, body)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the FIFO held the request %v", took)
	}
}
