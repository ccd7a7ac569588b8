package client_test

import (
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/p2plab/p2plab/client"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
)

// cloggedListener listens on ep with a backlog of 0 and fills its one
// accept slot, so the kernel drops further SYNs: a dial to ep times out, as
// on a lab whose SYN or ARP reply got lost. unclog frees the slot.
func cloggedListener(t *testing.T, ep net.Addr) (ln net.Listener, unclog func()) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, o, 1); err != nil {
			t.Fatal(err)
		}
	}
	a := ep.(*net.TCPAddr).AddrPort()
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "clogged")
	ln, err = net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	filler, err := net.DialTimeout("tcp", ep.String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { filler.Close() })
	return ln, func() {
		_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(waitTimeout))
		c, err := ln.Accept()
		if err != nil {
			t.Fatalf("unclog: %v", err)
		}
		c.Close()
	}
}

// TestRedialAfterTimeout: a newcomer whose dial to an online user times out
// dials again, and both attempts are in its P2PInfo log.
func TestRedialAfterTimeout(t *testing.T) {
	srv := startServer(t)
	z := newRawUser(t, srv.Addr, "zed", false)
	ln, unclog := cloggedListener(t, net.TCPAddrFromAddrPort(z.ep))
	a := clienttest.New(t, srv.Addr, "alice", clienttest.WithConfig(func(c *client.Config) {
		c.DialTimeout = 300 * time.Millisecond
	}))
	eventually(t, "alice logs create failed: timeout", func() bool {
		for _, e := range p2pLog(t, a) {
			if e.Kind == protocol.LogCreateFailed && e.Peer == "zed" {
				return e.Reason == "timeout"
			}
		}
		return false
	})
	unclog()
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(waitTimeout))
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("the second dial never came: %v", err)
	}
	rc := newRawChan(t, c)
	rc.expect(protocol.TypeSetupP2PMessage)
	waitEvent(t, a, "channel to zed", opened("zed"))
	var kinds []string
	for _, e := range p2pLog(t, a) {
		kinds = append(kinds, e.Kind)
	}
	want := []string{protocol.LogPrepare, protocol.LogCreateFailed, protocol.LogPrepare, protocol.LogCreated}
	if len(kinds) != len(want) {
		t.Fatalf("log %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("log %v, want %v", kinds, want)
		}
	}
}

// TestNoRedialWhenRefused: a refused dial is not made again; the pair
// stays on the relay.
func TestNoRedialWhenRefused(t *testing.T) {
	srv := startServer(t)
	newRawUser(t, srv.Addr, "zed", false) // not listening: the dial is refused
	a := clienttest.New(t, srv.Addr, "alice", clienttest.WithHeartbeat(50*time.Millisecond, 10))
	eventually(t, "alice logs create failed", func() bool { return countLog(p2pLog(t, a), protocol.LogCreateFailed, "zed") == 1 })
	// Past the first redial time (one interval, at least 1 s) and a dial.
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if n := countLog(p2pLog(t, a), protocol.LogPrepare, "zed"); n != 1 {
			t.Fatalf("%d dials to zed after a refusal, want 1", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
