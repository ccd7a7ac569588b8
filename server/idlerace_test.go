package server

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/p2plab/p2plab/protocol"
)

// tcpPair returns both ends of a loopback TCP connection, closed at cleanup.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// waitBytes waits (bounded) until bytes the peer wrote are in nc's socket.
func waitBytes(t *testing.T, nc net.Conn) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !bytesWaiting(nc); {
		if time.Now().After(deadline) {
			t.Fatal("the peer's bytes never reached the socket")
		}
		time.Sleep(time.Millisecond)
	}
}

// When the idle deadline fires after a frame's bytes reached the socket but
// before the reader got to them (a loaded machine), the peer is not idle
// (docs/protocol.md 5.8): the frame is read, and a half frame is cut as
// stalled (5.9), never as a heartbeat timeout. An idle deadline already in
// the past makes the race certain.
func TestIdleDeadlineWithBytesWaiting(t *testing.T) {
	hb, err := protocol.Marshal(protocol.Frame{Type: protocol.TypeHeartbeat, ID: 7})
	if err != nil {
		t.Fatal(err)
	}
	half := append([]byte{0, 0, 0, 100}, `{"type":"Heartbeat"`...)
	for _, tc := range []struct {
		name  string
		send  []byte
		check func(t *testing.T, f protocol.Frame, err error)
	}{
		{"nothing sent", nil, func(t *testing.T, _ protocol.Frame, err error) {
			if !errors.Is(err, errIdle) {
				t.Fatalf("readFrame = %v, want the heartbeat timeout", err)
			}
		}},
		{"whole frame", hb, func(t *testing.T, f protocol.Frame, err error) {
			if err != nil || f.Type != protocol.TypeHeartbeat || f.ID != 7 {
				t.Fatalf("readFrame = %+v, %v, want the Heartbeat id=7", f, err)
			}
		}},
		{"half frame", half, func(t *testing.T, _ protocol.Frame, err error) {
			if !errors.Is(err, errStalled) {
				t.Fatalf("readFrame = %v, want the stalled-frame error", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Config{Heartbeat: 50 * time.Millisecond, Misses: 2})
			s.idle = -time.Second // the idle deadline has always passed
			cl, sv := tcpPair(t)
			if tc.send != nil {
				if _, err := cl.Write(tc.send); err != nil {
					t.Fatal(err)
				}
				waitBytes(t, sv)
			}
			c := newConn(s, sv, 0)
			f, _, _, err := c.readFrame()
			tc.check(t, f, err)
		})
	}
}
