package client_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/p2plab/p2plab/protocol"
)

// rawUser is a hand-driven protocol peer for tests: it speaks frames
// directly, so a test can make it misbehave (go silent, send duplicates,
// cut a channel) in ways the reference client never would.
type rawUser struct {
	t    *testing.T
	id   string
	srv  net.Conn
	ln   net.Listener
	in   chan protocol.Frame // frames from the server, heartbeats answered
	ep   netip.AddrPort      // local endpoint of the server connection
	wmu  sync.Mutex
	wg   sync.WaitGroup
	done chan struct{}
}

func reuse(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// newRawUser logs id in to the server; with listen it also listens on its
// server connection's local endpoint (the one the server advertises). It
// sends a Heartbeat every 100ms on the server connection.
func newRawUser(t *testing.T, server netip.AddrPort, id string, listen bool) *rawUser {
	t.Helper()
	return newRawUserLogin(t, server, protocol.Login{UserID: id}, listen)
}

// newRawUserLogin is newRawUser with the Login body to send.
func newRawUserLogin(t *testing.T, server netip.AddrPort, lb protocol.Login, listen bool) *rawUser {
	t.Helper()
	id := lb.UserID
	d := net.Dialer{Control: reuse, Timeout: 5 * time.Second}
	var conn net.Conn
	var ln net.Listener
	for attempt := 1; ; attempt++ {
		var err error
		conn, err = d.Dial("tcp", server.String())
		if err != nil {
			t.Fatalf("raw %s: dial server: %v", id, err)
		}
		if !listen {
			break
		}
		// the ephemeral port may be shared with another outgoing
		// connection: then listening fails and a new port is needed.
		lc := net.ListenConfig{Control: reuse}
		ln, err = lc.Listen(context.Background(), "tcp", conn.LocalAddr().String())
		if err == nil {
			break
		}
		conn.Close()
		if attempt == 5 {
			t.Fatalf("raw %s: listen: %v", id, err)
		}
	}
	u := &rawUser{t: t, id: id, srv: conn, ln: ln, in: make(chan protocol.Frame, 1000), done: make(chan struct{}),
		ep: conn.LocalAddr().(*net.TCPAddr).AddrPort()}
	t.Cleanup(u.Close)
	r := protocol.NewReader(bufio.NewReader(conn))
	login := protocol.MustFrame(protocol.TypeLogin, lb)
	login.ID = 1
	u.sendServer(login)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := r.ReadFrame()
	if err != nil || f.Type != protocol.TypeLoginResult {
		t.Fatalf("raw %s: login: %v %+v", id, err, f)
	}
	_ = conn.SetReadDeadline(time.Time{})
	u.wg.Add(2)
	go func() {
		defer u.wg.Done()
		defer close(u.in)
		for {
			f, err := r.ReadFrame()
			if err != nil {
				return
			}
			if f.Type == protocol.TypeHeartbeat {
				u.sendServer(protocol.Frame{Type: protocol.TypeHeartbeatAck, Re: f.ID})
				continue
			}
			if f.Type == protocol.TypeHeartbeatAck {
				continue
			}
			select {
			case u.in <- f:
			default:
			}
		}
	}()
	go func() {
		defer u.wg.Done()
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		var n int64
		for {
			select {
			case <-tk.C:
				n++
				u.sendServer(protocol.Frame{Type: protocol.TypeHeartbeat, ID: n})
			case <-u.done:
				return
			}
		}
	}()
	return u
}

func (u *rawUser) Close() {
	select {
	case <-u.done:
		return
	default:
	}
	close(u.done)
	u.srv.Close()
	if u.ln != nil {
		u.ln.Close()
	}
	u.wg.Wait()
}

func (u *rawUser) sendServer(f protocol.Frame) {
	u.wmu.Lock()
	defer u.wmu.Unlock()
	_ = u.srv.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = protocol.WriteFrame(u.srv, f)
}

// expectServer returns the next frame from the server of type typ
// matching ok (others are skipped).
func (u *rawUser) expectServer(typ string, ok func(protocol.Frame) bool) protocol.Frame {
	u.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case f, open := <-u.in:
			if !open {
				u.t.Fatalf("raw %s: server connection closed while waiting for %s", u.id, typ)
			}
			if f.Type == typ && (ok == nil || ok(f)) {
				return f
			}
		case <-deadline:
			u.t.Fatalf("raw %s: no %s from the server", u.id, typ)
		}
	}
}

// rawChan is one hand-driven P2P connection.
type rawChan struct {
	t *testing.T
	c net.Conn
	r *protocol.Reader
}

func newRawChan(t *testing.T, c net.Conn) *rawChan {
	t.Cleanup(func() { c.Close() })
	return &rawChan{t: t, c: c, r: protocol.NewReader(bufio.NewReader(c))}
}

// dialRaw dials a client's endpoint from an ephemeral port (from invalid)
// or from the given endpoint.
func dialRaw(t *testing.T, to, from netip.AddrPort) *rawChan {
	t.Helper()
	d := net.Dialer{Control: reuse, Timeout: 5 * time.Second}
	if from.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(from)
	}
	c, err := d.Dial("tcp", to.String())
	if err != nil {
		t.Fatalf("raw dial %s: %v", to, err)
	}
	return newRawChan(t, c)
}

// accept takes the next connection on u's listener.
func (u *rawUser) accept() *rawChan {
	u.t.Helper()
	_ = u.ln.(*net.TCPListener).SetDeadline(time.Now().Add(waitTimeout))
	c, err := u.ln.Accept()
	if err != nil {
		u.t.Fatalf("raw %s: accept: %v", u.id, err)
	}
	return newRawChan(u.t, c)
}

func (rc *rawChan) send(f protocol.Frame) {
	rc.t.Helper()
	_ = rc.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := protocol.WriteFrame(rc.c, f); err != nil {
		rc.t.Fatalf("raw channel send %s: %v", f.Type, err)
	}
}

// next reads the next non-heartbeat frame (answering heartbeats), or an
// error (EOF when the client closed the channel).
func (rc *rawChan) next() (protocol.Frame, error) {
	_ = rc.c.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		f, err := rc.r.ReadFrame()
		if err != nil {
			return f, err
		}
		switch f.Type {
		case protocol.TypeHeartbeat:
			_ = protocol.WriteFrame(rc.c, protocol.Frame{Type: protocol.TypeHeartbeatAck, Re: f.ID})
		case protocol.TypeHeartbeatAck:
		default:
			return f, nil
		}
	}
}

// expect reads frames until one of type typ arrives.
func (rc *rawChan) expect(typ string) protocol.Frame {
	rc.t.Helper()
	for {
		f, err := rc.next()
		if err != nil {
			rc.t.Fatalf("raw channel: waiting for %s: %v", typ, err)
		}
		if f.Type == typ {
			return f
		}
	}
}

// expectClosed reads until the client closes the connection.
func (rc *rawChan) expectClosed() {
	rc.t.Helper()
	for {
		_, err := rc.next()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			rc.t.Fatalf("raw channel: still open after %s", waitTimeout)
		}
		return
	}
}

// reset closes the connection with a TCP reset.
func (rc *rawChan) reset() {
	_ = rc.c.(*net.TCPConn).SetLinger(0)
	rc.c.Close()
}

// netipZero is "no endpoint": dial from an ephemeral port.
var netipZero netip.AddrPort
