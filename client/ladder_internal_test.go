package client

import (
	"net"
	"testing"
	"time"
)

// TestConnRTT: the stagger of docs/protocol.md 9.7 comes from the kernel's
// measured round trip of a TCP connection; on loopback, after one exchange,
// it is known and small, and a connection that is not a socket has none.
func TestConnRTT(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := conn.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if rtt := connRTT(conn); rtt <= 0 || rtt > 100*time.Millisecond {
		t.Errorf("connRTT on loopback = %v, want a measured value under 100ms", rtt)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if rtt := connRTT(a); rtt != 0 {
		t.Errorf("connRTT of a pipe = %v, want 0 (unknown)", rtt)
	}
}
