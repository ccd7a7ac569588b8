package client

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/p2plab/p2plab/protocol"
)

// errReader fails every read with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// A read error that matches protocol.ErrBadFrame but is no *FrameError
// ends the link as "connection lost" instead of dereferencing the nil
// result of an unchecked errors.As.
func TestLinkReadErrorWithoutFrameError(t *testing.T) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	go func() { _, _ = io.Copy(io.Discard, b) }() // ends when the link closes a
	p := newPulse(time.Second)
	l := newLink(a, protocol.NewReader(errReader{fmt.Errorf("transport: %w", protocol.ErrBadFrame)}), p, 3)
	done := make(chan string, 1)
	go func() { done <- l.run(func(protocol.Frame) error { return nil }) }()
	select {
	case reason := <-done:
		if reason != protocol.ReasonConnectionLost {
			t.Fatalf("link closed with %q, want %q", reason, protocol.ReasonConnectionLost)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("link still running 10s after its reader failed")
	}
	p.wait()
}
