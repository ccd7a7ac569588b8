package server_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/server"
	"github.com/p2plab/p2plab/server/servertest"
)

// wait is the deadline for anything a test expects to happen.
const wait = 5 * time.Second

// peer is a raw protocol client: it speaks frames over a real TCP socket.
type peer struct {
	t    testing.TB
	nc   *net.TCPConn
	r    *protocol.Reader
	user string
}

func dial(t testing.TB, s *servertest.Server) *peer {
	t.Helper()
	return dialAddr(t, s.Addr)
}

func dialAddr(t testing.TB, addr netip.AddrPort) *peer {
	t.Helper()
	nc, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &peer{t: t, nc: nc, r: protocol.NewReader(nc)}
}

// login dials and logs in as user, expecting success.
func login(t testing.TB, s *servertest.Server, user string) *peer {
	t.Helper()
	return loginAddr(t, s.Addr, user)
}

func loginAddr(t testing.TB, addr netip.AddrPort, user string) *peer {
	t.Helper()
	p := dialAddr(t, addr)
	p.user = user
	p.send(protocol.MustFrame(protocol.TypeLogin, protocol.Login{UserID: user, UserName: user}), 1)
	f := p.expect(protocol.TypeLoginResult)
	var lr protocol.LoginResult
	decode(t, f, &lr)
	if !lr.OK || f.Re != 1 {
		t.Fatalf("login %s: %+v re=%d", user, lr, f.Re)
	}
	return p
}

func (p *peer) send(f protocol.Frame, id int64) {
	p.t.Helper()
	f.ID = id
	b, err := protocol.Marshal(f)
	if err != nil {
		p.t.Fatal(err)
	}
	p.sendRaw(b)
}

func (p *peer) sendRaw(b []byte) {
	p.t.Helper()
	p.nc.SetWriteDeadline(time.Now().Add(wait))
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatalf("%s: write: %v", p.user, err)
	}
}

// sendPayload sends one frame with the given raw payload.
func (p *peer) sendPayload(payload string) {
	p.t.Helper()
	b := make([]byte, 4, 4+len(payload))
	binary.BigEndian.PutUint32(b, uint32(len(payload)))
	p.sendRaw(append(b, payload...))
}

// next reads the next frame that is not a server Heartbeat.
func (p *peer) next(d time.Duration) (protocol.Frame, error) {
	p.nc.SetReadDeadline(time.Now().Add(d))
	for {
		f, err := p.r.ReadFrame()
		if err != nil || f.Type != protocol.TypeHeartbeat {
			return f, err
		}
	}
}

// expect reads the next non-Heartbeat frame and checks its type.
func (p *peer) expect(typ string) protocol.Frame {
	p.t.Helper()
	f, err := p.next(wait)
	if err != nil {
		p.t.Fatalf("%s: waiting for %s: %v", p.user, typ, err)
	}
	if f.Type != typ {
		p.t.Fatalf("%s: got %s %s, want %s", p.user, f.Type, f.Body, typ)
	}
	return f
}

// expectError reads the next frame, which must be Error code with re.
func (p *peer) expectError(code string, re int64) protocol.Error {
	p.t.Helper()
	f := p.expect(protocol.TypeError)
	var e protocol.Error
	decode(p.t, f, &e)
	if e.Code != code || f.Re != re {
		p.t.Fatalf("%s: Error %+v re=%d, want code %s re=%d", p.user, e, f.Re, code, re)
	}
	return e
}

// expectClosed reads until the server closes the connection; it fails on
// any frame other than a Heartbeat.
func (p *peer) expectClosed() {
	p.t.Helper()
	f, err := p.next(wait)
	if err == nil {
		p.t.Fatalf("%s: got %s %s, want the connection closed", p.user, f.Type, f.Body)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		p.t.Fatalf("%s: want EOF, got %v", p.user, err)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !errors.Is(err, os.ErrDeadlineExceeded)
}

// expectSilent checks that nothing but Heartbeats arrives for d.
func (p *peer) expectSilent(d time.Duration) {
	p.t.Helper()
	f, err := p.next(d)
	if err == nil {
		p.t.Fatalf("%s: got %s %s, want nothing", p.user, f.Type, f.Body)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		p.t.Fatalf("%s: %v", p.user, err)
	}
}

func decode(t testing.TB, f protocol.Frame, v any) {
	t.Helper()
	if err := json.Unmarshal(f.Body, v); err != nil {
		t.Fatalf("%s body %s: %v", f.Type, f.Body, err)
	}
}

func chat(from, to, id, content string) protocol.Frame {
	return protocol.MustFrame(protocol.TypeChatMessage, protocol.Chat{
		MessageID: id, UserID: from, DestUserID: to, Content: content,
		SendTime: "2026-11-22T04:00:00Z",
	})
}

// expectChat reads the next frame, which must be the relayed chat message.
func (p *peer) expectChat(from, id, content string) protocol.Chat {
	p.t.Helper()
	f := p.expect(protocol.TypeChatMessage)
	var c protocol.Chat
	decode(p.t, f, &c)
	if c.UserID != from || c.MessageID != id || c.Content != content || c.DestUserID != p.user {
		p.t.Fatalf("%s: got chat %+v, want %s from %s: %q", p.user, c, id, from, content)
	}
	return c
}

// newServer starts a server with a long heartbeat so that raw test clients
// need not send heartbeats.
func newServer(t testing.TB, cfg server.Config) *servertest.Server {
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 2 * time.Second
	}
	return servertest.NewServer(t, cfg)
}

// eventually polls cond until it holds or wait passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", wait, what)
		}
		tm := time.NewTimer(10 * time.Millisecond)
		<-tm.C
	}
}
