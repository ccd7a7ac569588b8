package client

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/p2plab/p2plab/protocol"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (dialled, accepted net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialled, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	accepted, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialled.Close(); accepted.Close() })
	return dialled, accepted
}

// startLink runs l until the test ends and returns a channel with the
// reason it closed with.
func startLink(t *testing.T, l *link) <-chan string {
	t.Helper()
	done := make(chan string, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		done <- l.run(func(protocol.Frame) error { return nil })
	}()
	t.Cleanup(func() {
		l.close(protocol.ReasonLogout)
		<-finished
		l.pulse.wait()
	})
	return done
}

// readWrite reads one write's worth of frames from c: whatever arrives
// within a short pause after the first byte.
func readWrite(t *testing.T, c net.Conn, within time.Duration) []protocol.Frame {
	t.Helper()
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(within))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var fs []protocol.Frame
	r := protocol.NewReader(bytes.NewReader(buf[:n]))
	for {
		f, err := r.ReadFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not whole frames in one write: %v", err)
		}
		fs = append(fs, f)
	}
	return fs
}

// An accepted link answers the dialler's Heartbeat with its HeartbeatAck
// and its own Heartbeat in one write.
func TestFollowerBeatRidesWithAck(t *testing.T) {
	hb := 2 * time.Second
	raw, acc := tcpPair(t)
	l := newLink(acc, nil, newPulse(hb), 10)
	// The follower's own beat is half an interval old (old enough to
	// ride) and not due on its own for another half.
	l.lastBeat.Store(time.Now().Add(-hb / 2).UnixNano())
	startLink(t, l)
	if err := protocol.WriteFrame(raw, protocol.Frame{Type: protocol.TypeHeartbeat, ID: 7}); err != nil {
		t.Fatal(err)
	}
	fs := readWrite(t, raw, 2*time.Second)
	if len(fs) != 2 || fs[0].Type != protocol.TypeHeartbeatAck || fs[0].Re != 7 || fs[1].Type != protocol.TypeHeartbeat {
		t.Fatalf("one write held %+v, want HeartbeatAck re=7 then Heartbeat", fs)
	}
}

// Each end beats on its own when the other never does: the dialler every
// interval, the acceptor one grid step later; both within the interval
// plus a step, and on the shared grid.
func TestBeatsWithoutAPeerBeat(t *testing.T) {
	hb := 100 * time.Millisecond
	for _, lead := range []bool{true, false} {
		raw, other := tcpPair(t)
		p := newPulse(hb)
		l := newLink(other, nil, p, 50)
		l.lead = lead
		startLink(t, l)
		prev := time.Now()
		for i := 0; i < 4; i++ {
			fs := readWrite(t, raw, 5*time.Second)
			got := time.Now()
			if len(fs) != 1 || fs[0].Type != protocol.TypeHeartbeat {
				t.Fatalf("lead=%v: got %+v, want a Heartbeat", lead, fs)
			}
			// Loose bounds: a busy machine delays a beat, never hastens it.
			if gap := got.Sub(prev); i > 0 && gap < hb-p.check {
				t.Errorf("lead=%v: beats %s apart, interval %s", lead, gap, hb)
			}
			prev = got
		}
	}
}

// The clock's goroutine ends with the last link and starts again with the
// next one.
func TestPulseStopsWithLastLink(t *testing.T) {
	p := newPulse(50 * time.Millisecond)
	for i := 0; i < 2; i++ {
		_, c := tcpPair(t)
		l := newLink(c, nil, p, 3)
		done := make(chan string, 1)
		go func() { done <- l.run(func(protocol.Frame) error { return nil }) }()
		l.close(protocol.ReasonLogout)
		if r := <-done; r != protocol.ReasonLogout {
			t.Fatalf("closed with %q", r)
		}
		stopped := make(chan struct{})
		go func() { p.wait(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			t.Fatal("the pulse goroutine outlived its last link")
		}
	}
}

// A silent link is closed with "heartbeat timeout" after misses intervals
// plus the grace, not before.
func TestPulseClosesSilentLink(t *testing.T) {
	hb := 50 * time.Millisecond
	_, c := tcpPair(t)
	l := newLink(c, nil, newPulse(hb), 3)
	start := time.Now()
	done := startLink(t, l)
	select {
	case r := <-done:
		if r != protocol.ReasonHeartbeatTimeout {
			t.Fatalf("closed with %q", r)
		}
		if d := time.Since(start); d < 3*hb {
			t.Fatalf("closed after %s, before misses x interval = %s", d, 3*hb)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a silent link stayed open")
	}
}
