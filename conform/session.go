package conform

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p2plab/p2plab/protocol"
)

// session is one raw-frame connection driven by a check: to the server under
// test, or a P2P channel to or from a client under test. A reader goroutine
// records every frame received; expect scans them. Unless silent, the
// session answers every Heartbeat that has an id with a HeartbeatAck.
type session struct {
	name string
	conn net.Conn

	wmu    sync.Mutex
	nextID atomic.Int64
	silent atomic.Bool

	mu       sync.Mutex
	frames   []protocol.Frame
	consumed []bool
	notify   chan struct{} // signalled (cap 1) when frames or done change
	done     chan struct{} // closed when the reader stops
	readErr  error

	stopKeep  chan struct{}
	keepOnce  sync.Once
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// newSession starts reading conn. The session owns conn.
func newSession(name string, conn net.Conn) *session {
	s := &session{name: name, conn: conn, notify: make(chan struct{}, 1), done: make(chan struct{}), stopKeep: make(chan struct{})}
	s.wg.Add(1)
	go s.read()
	return s
}

func (s *session) read() {
	defer s.wg.Done()
	r := protocol.NewReader(bufio.NewReader(s.conn))
	for {
		f, err := r.ReadFrame()
		if err != nil {
			s.mu.Lock()
			s.readErr = err
			s.mu.Unlock()
			close(s.done)
			s.signal()
			return
		}
		if f.Type == protocol.TypeHeartbeat && f.ID > 0 && !s.silent.Load() {
			_ = s.send(protocol.Frame{Type: protocol.TypeHeartbeatAck, Re: f.ID})
		}
		s.mu.Lock()
		s.frames = append(s.frames, f)
		s.consumed = append(s.consumed, false)
		s.mu.Unlock()
		s.signal()
	}
}

func (s *session) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Close closes the connection and waits for the session's goroutines.
func (s *session) Close() {
	s.closeOnce.Do(func() {
		s.keepOnce.Do(func() { close(s.stopKeep) })
		_ = s.conn.Close()
		s.wg.Wait()
	})
}

// local is the session's local endpoint.
func (s *session) local() netip.AddrPort {
	return addrPortOf(s.conn.LocalAddr())
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// send writes one frame (bounded by a short write deadline).
func (s *session) send(f protocol.Frame) error {
	b, err := protocol.Marshal(f)
	if err != nil {
		return fmt.Errorf("conform: %s: %w", s.name, err)
	}
	return s.sendRaw(b)
}

// sendRaw writes bytes as they are.
func (s *session) sendRaw(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := s.conn.Write(b)
	if err != nil {
		return fmt.Errorf("conform: %s: write: %w", s.name, err)
	}
	return nil
}

// request sends a frame of type typ with body and a fresh id; it returns the id.
func (s *session) request(typ string, body any) (int64, error) {
	f, err := protocol.NewFrame(typ, body)
	if err != nil {
		return 0, err
	}
	f.ID = s.nextID.Add(1) + 100
	return f.ID, s.send(f)
}

// notice sends a frame without an id.
func (s *session) notice(typ string, body any) error {
	f, err := protocol.NewFrame(typ, body)
	if err != nil {
		return err
	}
	return s.send(f)
}

// keepAlive sends a Heartbeat every d until the session closes, so a server
// never takes this session for dead.
func (s *session) keepAlive(d time.Duration) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-s.stopKeep:
				return
			case <-s.done:
				return
			case <-t.C:
				_ = s.notice(protocol.TypeHeartbeat, nil)
			}
		}
	}()
}

// expect waits for the first unconsumed frame that matches pred, consumes and
// returns it. It fails when ctx ends or the connection closes first; the
// failure names what was expected and lists what arrived instead.
func (s *session) expect(ctx context.Context, want string, pred func(protocol.Frame) bool) (protocol.Frame, error) {
	for {
		s.mu.Lock()
		for i, f := range s.frames {
			if !s.consumed[i] && pred(f) {
				s.consumed[i] = true
				s.mu.Unlock()
				return f, nil
			}
		}
		s.mu.Unlock()
		select {
		case <-s.done:
			// The reader may have appended a last frame before closing.
			if s.scan(pred) {
				continue
			}
			return protocol.Frame{}, failf(want+" on "+s.name, "connection ended (%s) after %s", s.endReason(), s.unconsumed())
		case <-ctx.Done():
			return protocol.Frame{}, failf(want+" on "+s.name, "nothing matching before the deadline; received %s", s.unconsumed())
		case <-s.notify:
		}
	}
}

func (s *session) scan(pred func(protocol.Frame) bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.frames {
		if !s.consumed[i] && pred(f) {
			return true
		}
	}
	return false
}

// expectClosed waits until the peer closes the connection.
func (s *session) expectClosed(ctx context.Context, why string) error {
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return failf("the connection closed ("+why+")", "still open at the deadline; received %s", s.unconsumed())
	}
}

// closed reports whether the connection has ended.
func (s *session) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// find returns the unconsumed frames matching pred, without consuming them.
func (s *session) find(pred func(protocol.Frame) bool) []protocol.Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []protocol.Frame
	for i, f := range s.frames {
		if !s.consumed[i] && pred(f) {
			out = append(out, f)
		}
	}
	return out
}

func (s *session) endReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.readErr == nil:
		return "open"
	case errors.Is(s.readErr, io.EOF):
		return "closed by peer"
	default:
		return s.readErr.Error()
	}
}

// unconsumed describes the frames no expect has taken, for failure reports.
func (s *session) unconsumed() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for i, f := range s.frames {
		if !s.consumed[i] && f.Type != protocol.TypeHeartbeat && f.Type != protocol.TypeHeartbeatAck {
			parts = append(parts, describe(f))
		}
	}
	if len(parts) == 0 {
		return "no other frames"
	}
	if len(parts) > 6 {
		parts = append(parts[:6], fmt.Sprintf("... (%d more)", len(parts)-6))
	}
	return strings.Join(parts, ", ")
}

// describe renders a frame compactly for reports.
func describe(f protocol.Frame) string {
	var b strings.Builder
	b.WriteString(f.Type)
	if f.ID != 0 {
		fmt.Fprintf(&b, " id=%d", f.ID)
	}
	if f.Re != 0 {
		fmt.Fprintf(&b, " re=%d", f.Re)
	}
	if len(f.Body) > 0 {
		body := string(f.Body)
		if len(body) > 160 {
			body = body[:160] + "..."
		}
		b.WriteString(" " + body)
	}
	return b.String()
}

// body decodes a frame's body, ignoring errors (a zero value then fails the
// caller's comparison, which reports the raw frame).
func body[T any](f protocol.Frame) T {
	var v T
	if len(f.Body) > 0 {
		_ = json.Unmarshal(f.Body, &v)
	}
	return v
}

// Frame predicates.

func isType(t string) func(protocol.Frame) bool {
	return func(f protocol.Frame) bool { return f.Type == t }
}

func isReply(t string, id int64) func(protocol.Frame) bool {
	return func(f protocol.Frame) bool { return f.Type == t && f.Re == id }
}

func isError(f protocol.Frame) bool { return f.Type == protocol.TypeError }

func isStateNotify(user string, online bool) func(protocol.Frame) bool {
	return func(f protocol.Frame) bool {
		if f.Type != protocol.TypeUserStateNotify {
			return false
		}
		b := body[protocol.UserStateNotify](f)
		return b.UserID == user && b.OnLine == online
	}
}

func isChat(t, messageID string) func(protocol.Frame) bool {
	return func(f protocol.Frame) bool {
		return f.Type == t && body[protocol.Relay](f).MessageID == messageID
	}
}

// decodeJSON decodes JSON bytes, ignoring errors.
func decodeJSON[T any](b []byte) T {
	var v T
	_ = json.Unmarshal(b, &v)
	return v
}

// readFile reads a whole file as text.
func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
