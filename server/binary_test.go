package server_test

import (
	"bufio"
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
)

// TestBinary builds p2plab, runs `p2plab server` on loopback with port 0,
// talks to it over the wire and the admin API, and stops it with SIGTERM.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := t.TempDir() + "/p2plab"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/p2plab/p2plab/cmd/p2plab")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	cmd := exec.CommandContext(ctx, bin, "server", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--heartbeat", "200ms", "--misses", "3")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	lines := make(chan string, 2)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var addr, admin netip.AddrPort
	for _, prefix := range []string{"p2plab server listening on ", "p2plab server admin on "} {
		select {
		case line := <-lines:
			rest, ok := strings.CutPrefix(line, prefix)
			if !ok {
				t.Fatalf("stdout line %q, want %q...", line, prefix)
			}
			ap, err := netip.ParseAddrPort(rest)
			if err != nil || ap.Port() == 0 || ap.Addr() != netip.MustParseAddr("127.0.0.1") {
				t.Fatalf("line %q: address %v, %v", line, ap, err)
			}
			if addr.IsValid() {
				admin = ap
			} else {
				addr = ap
			}
		case <-time.After(wait):
			t.Fatalf("no %q line; stderr:\n%s", prefix, stderr.String())
		}
	}

	alice := loginAddr(t, addr, "alice")
	stop := keepAlive(t, alice, 100*time.Millisecond)
	bob := loginAddr(t, addr, "bob")
	alice.expectNotify("bob", true)
	bob.send(chat("bob", "alice", "m1", "over the real binary"), 0)
	alice.expectChat("bob", "m1", "over the real binary")

	// bob goes silent: with --heartbeat 200ms --misses 3 he is dead within
	// 800ms.
	start := time.Now()
	alice.expectNotify("bob", false)
	if took := time.Since(start); took > 800*time.Millisecond {
		t.Fatalf("silent bob detected after %v", took)
	}
	// Bad input closes only that connection.
	bad := loginAddr(t, addr, "bad")
	alice.expectNotify("bad", true)
	bad.sendPayload(`[]`)
	bad.expectError(protocol.CodeBadFrame, 0)
	bad.expectClosed()
	alice.expectNotify("bad", false)

	adm := api.NewAdmin(admin.String())
	defer adm.Close()
	st, err := adm.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := st.User("bob"); u.Uploads != 1 || u.Online {
		t.Fatalf("bob stats %+v", u)
	}
	if u, _ := st.User("alice"); u.Downloads != 1 || !u.Online {
		t.Fatalf("alice stats %+v", u)
	}
	stop()

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(wait):
		t.Fatal("no exit within 5s of SIGTERM")
	}
	alice.expectClosed()
}
