package defective

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/p2plab/p2plab/conform"
	"github.com/p2plab/p2plab/protocol"
)

// ClientDefect names the one rule a defective client breaks.
type ClientDefect string

// Client defects.
const (
	// NoAck never sends ChatAck (over channels or through the server).
	NoAck ClientDefect = "no-ack"
	// NoHeartbeatAck ignores Heartbeats: it never answers them.
	NoHeartbeatAck ClientDefect = "no-heartbeat-ack"
	// WrongLogPhrase writes "send message through p2p channel" (singular)
	// instead of the P2PInfo phrase "send messages through p2p channel".
	WrongLogPhrase ClientDefect = "wrong-log-phrase"
	// NoTeardown ignores UserStateNotify{onLine:false}: channels to peers
	// that went offline stay up.
	NoTeardown ClientDefect = "no-teardown"
)

// ClientDefects lists every client defect.
var ClientDefects = []ClientDefect{NoAck, NoHeartbeatAck, WrongLogPhrase, NoTeardown,
	AcceptAnyProof, AcceptV1Claim, BadProof, CrossChannel, NoPunch, WrongMethod,
	SwapInitiator, WrongAcceptLog, WrongCreateLog, KeylessID, LaxNotFound, NoLongPoll, RawListen, FakeLogout,
	SwapVia, SwallowOffline, NoChannelHeartbeat, KeepSilentChannel, SetupLate, DoubleDeliver, NoChannelResend, FragileChannels,
	NoP2PChat, NoChatRelay, NoP2PFile}

// WrapClient returns a StartClientFunc that starts the client of start
// behind proxies that break one rule: its server link and inbound P2P
// channels pass through a frame filter, and its control API through an
// HTTP proxy. Apart from the defect the wrapped client behaves as the
// client it wraps.
func WrapClient(start conform.StartClientFunc, defect ClientDefect) conform.StartClientFunc {
	return func(ctx context.Context, run conform.ClientRun) (func(), error) {
		w := &wrapper{defect: defect, server: run.Server, conns: map[io.Closer]struct{}{}, heartbeat: run.Heartbeat, user: run.User,
			out: outbound{byReal: map[string]string{}, byProxy: map[string]string{}}, files: map[fileKey][]protocol.Frame{}}
		w.init11()
		if err := w.listen(); err != nil {
			return nil, err
		}
		inner := run
		inner.Server = w.linkAddr()
		inner.Control = run.Control + ".real"
		stopInner, err := start(ctx, inner)
		if err != nil {
			w.close()
			return nil, err
		}
		if err := w.serveControl(run.Control, inner.Control); err != nil {
			stopInner()
			w.close()
			return nil, err
		}
		return func() {
			stopInner()
			w.close()
		}, nil
	}
}

type wrapper struct {
	defect ClientDefect
	server netip.AddrPort // the real server

	link net.Listener // the wrapped client's "server"
	ctl  *http.Server
	ctlL net.Listener

	mu         sync.Mutex
	conns      map[io.Closer]struct{}
	closed     bool
	listenReal string // the wrapped client's own endpoint
	advertised string // the endpoint the server sees and advertises
	wg         sync.WaitGroup

	heartbeat  time.Duration
	user       string                       // the wrapped client's userID
	lastOnline string                       // the last user a UserStateNotify online named
	out        outbound                     // the wrapped client's channel dials
	files      map[fileKey][]protocol.Frame // held transfers (client_strict.go)
	v11                                     // protocol v1.1 state, client_v11.go
	more       moreState                    // for the defects of client_more.go
	cover      coverState                   // for the defects of client_cover.go
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

func (w *wrapper) track(c io.Closer) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		_ = c.Close()
		return false
	}
	w.conns[c] = struct{}{}
	return true
}

func (w *wrapper) linkAddr() netip.AddrPort { return w.link.Addr().(*net.TCPAddr).AddrPort() }

func (w *wrapper) listen() error {
	ln, udp, err := listenBoth()
	if err != nil {
		return err
	}
	w.link = ln
	w.track(ln)
	w.track(udp)
	w.wg.Add(1)
	go w.serveUDP(udp)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !w.track(c) {
				return
			}
			w.wg.Add(1)
			go w.serveLink(c)
		}
	}()
	return nil
}

func (w *wrapper) close() {
	w.mu.Lock()
	w.closed = true
	for c := range w.conns {
		_ = c.Close()
	}
	w.mu.Unlock()
	if w.ctl != nil {
		_ = w.ctl.Close()
	}
	w.wg.Wait()
}

// serveLink proxies one server connection of the wrapped client, and
// listens for P2P channels on the endpoint the server advertises for it.
func (w *wrapper) serveLink(c net.Conn) {
	defer w.wg.Done()
	clientEP := c.RemoteAddr().String() // the wrapped client listens here
	// Listen first, then dial the server from the listener's port: an
	// ephemeral port picked by connect may be shared with sockets that
	// have no SO_REUSEADDR, and listening on it would then fail.
	p2p, s, err := w.listenAndDial()
	if err != nil {
		_ = c.Close()
		return
	}
	// The link that carries the client's Login is the one the server
	// advertises: a link the client dropped before its Login (it could
	// not listen on its port, 6.1) must not set the endpoints, even if it
	// is set up after the next one.
	setEndpoints := func() {
		w.mu.Lock()
		w.listenReal, w.advertised = clientEP, s.LocalAddr().String()
		w.mu.Unlock()
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			in, err := p2p.Accept()
			if err != nil {
				return
			}
			if !w.track(in) {
				return
			}
			w.wg.Add(1)
			go w.serveChannel(in, clientEP)
		}
	}()
	stopBeats := w.maskSilence(c)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.pumpWith(s, c, func(f protocol.Frame) (protocol.Frame, bool) { // from the wrapped client to the server
			if f.Type == protocol.TypeLogin {
				setEndpoints()
			}
			return w.toServerStrict(f)
		})
		_ = s.Close()
	}()
	w.pumpMany(c, s, w.toClientStrict)
	stopBeats()
	w.serverLost() // client_cover.go
	_ = c.Close()
	<-done
	_ = p2p.Close()
}

// serveChannel proxies one inbound P2P channel to the wrapped client,
// dialing it from the peer's own address so that the client sees the true
// peer endpoint.
func (w *wrapper) serveChannel(in net.Conn, clientEP string) {
	defer w.wg.Done()
	d := net.Dialer{Control: reuse, LocalAddr: in.RemoteAddr()}
	out, err := d.Dial("tcp", clientEP)
	if err != nil {
		d.LocalAddr = nil
		if out, err = d.Dial("tcp", clientEP); err != nil {
			_ = in.Close()
			return
		}
	}
	if !w.track(out) {
		_ = in.Close()
		return
	}
	rin, rout := &rawIn{br: bufio.NewReader(in)}, protocol.NewReader(bufio.NewReader(out))
	ch := w.newChannel(in, out)
	defer w.dropChannel(ch)
	defer w.coverChannel(out)() // client_cover.go
	if !w.interpose(ch, rin, rout) {
		_ = in.Close()
		_ = out.Close()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if w.framed() {
			ch.copyIn(rin, ch.toClient)
		} else {
			w.channelIn(out, in)
		}
		_ = out.Close()
	}()
	drop, keep := w.channelOut()
	w.pumpFrames(ch.in, rout, func(f protocol.Frame) (protocol.Frame, bool) {
		if drop(f) {
			return f, false
		}
		return ch.fromClient(w.coverFromClient(f))
	})
	if !keep() {
		_ = in.Close()
	}
	<-done
}

// splice pumps a P2P channel between the wrapped client (cl) and a peer
// until either side ends.
func (w *wrapper) splice(cl, peer net.Conn) {
	defer w.coverChannel(cl)() // client_cover.go
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.channelIn(cl, peer)
		_ = cl.Close()
	}()
	drop, keep := w.channelOut()
	w.pumpWith(peer, cl, func(f protocol.Frame) (protocol.Frame, bool) { return w.coverFromClient(f), !drop(f) })
	if !keep() {
		_ = peer.Close()
	}
	<-done
}

// frameWriter writes whole frames to a connection, one writer at a time.
type frameWriter struct {
	mu sync.Mutex
	c  net.Conn
}

func (fw *frameWriter) write(f protocol.Frame) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return protocol.WriteFrame(fw.c, f)
}

// writeRaw writes bytes as they are, in one write.
func (fw *frameWriter) writeRaw(b []byte) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	_, err := fw.c.Write(b)
	return err
}

// pumpFrames copies frames from r to dst, each through edit (nil: as they
// are), which may replace a frame or leave it out (false).
func (w *wrapper) pumpFrames(dst *frameWriter, r *protocol.Reader, edit func(protocol.Frame) (protocol.Frame, bool)) {
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return
		}
		if edit != nil {
			var send bool
			if f, send = edit(f); !send {
				continue
			}
		}
		if err := dst.write(f); err != nil {
			return
		}
	}
}

func (w *wrapper) dropFromClient(f protocol.Frame) bool {
	switch w.defect {
	case NoAck:
		return f.Type == protocol.TypeChatAck
	case NoHeartbeatAck:
		return f.Type == protocol.TypeHeartbeatAck
	case NoPunch:
		return f.Type == protocol.TypePunchConnect
	case SilentLogout:
		return f.Type == protocol.TypeLogout
	}
	return false
}

func (w *wrapper) dropToClient(f protocol.Frame) bool {
	if w.defect == NoTeardown && f.Type == protocol.TypeUserStateNotify {
		return !strings.Contains(string(f.Body), `"onLine":true`)
	}
	return false
}

// serveControl serves the control API at path, proxied to the wrapped
// client's socket at real, with the wrapper's addresses translated back
// (status) and the log phrase defect applied (log).
func (w *wrapper) serveControl(path, real string) error {
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("defective: control socket: %w", err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "control"
		},
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", real)
		}},
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0), // the wrapped client not up yet: 502, quietly
		ModifyResponse: func(resp *http.Response) error {
			p := resp.Request.URL.Path
			channels := strings.HasPrefix(p, "/v1/channels")
			if p == "/v1/events" || (p != "/v1/status" && p != "/v1/log" && !channels && p != "/v1/connect") {
				return nil
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			s := string(b)
			if p == "/v1/status" {
				w.mu.Lock()
				if w.listenReal != "" {
					s = strings.ReplaceAll(s, `"`+w.listenReal+`"`, `"`+w.advertised+`"`)
				}
				w.mu.Unlock()
				s = strings.ReplaceAll(s, `"`+w.linkAddr().String()+`"`, `"`+w.server.String()+`"`)
			}
			s = w.out.unproxy(s)
			if channels && w.defect == WrongMethod {
				s = strings.ReplaceAll(s, `"method":"lan"`, `"method":"direct"`)
			}
			if p == "/v1/log" && w.defect == WrongLogPhrase {
				s = strings.ReplaceAll(s, "send messages through p2p channel", "send message through p2p channel")
			}
			resp.Body = io.NopCloser(bytes.NewReader([]byte(s)))
			resp.ContentLength = int64(len(s))
			resp.Header.Set("Content-Length", strconv.Itoa(len(s)))
			return nil
		},
	}
	w.ctlL = ln
	w.ctl = &http.Server{Handler: w.coverControl(rp)}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		_ = w.ctl.Serve(ln)
	}()
	return nil
}
