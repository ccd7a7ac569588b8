package defective

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"

	"github.com/p2plab/p2plab/protocol"
)

// ServerDefect names the one rule a defective server breaks.
type ServerDefect string

// Server defects.
const (
	// NoStateNotify never sends UserStateNotify.
	NoStateNotify ServerDefect = "no-state-notify"
	// ForwardForged forwards relayable frames that claim another sender
	// (with the sender rewritten) instead of refusing them.
	ForwardForged ServerDefect = "forward-forged"
	// IgnoreLengthLimit accepts a length prefix above 1 MiB and waits for
	// the payload instead of refusing it.
	IgnoreLengthLimit ServerDefect = "ignore-length-limit"
	// KeepBadConn answers malformed frames with an Error but never closes
	// the connection.
	KeepBadConn ServerDefect = "keep-bad-conn"
	// DropUserOffline silently drops relays to offline users instead of
	// answering user_offline.
	DropUserOffline ServerDefect = "drop-user-offline"
	// WrongObserved reports a wrong port in LoginResult.observed (and in
	// UDPHelloAck.observed).
	WrongObserved ServerDefect = "wrong-observed"
)

// ServerProxy is a defective server: a proxy in front of a real server that
// rewrites or drops frames to break one rule. Apart from that rule it is
// transparent: the endpoints the server reports are translated back to the
// ones the proxy's clients connect from.
type ServerProxy struct {
	ln       net.Listener
	upstream netip.AddrPort
	defect   ServerDefect

	mu    sync.Mutex
	addrs map[netip.AddrPort]netip.AddrPort // upstream local -> client remote
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup

	udpProxy // the UDP rendezvous (docs/protocol.md 9.5), server_v11.go
	// spellings maps a lower-cased userID to the spelling first seen
	// (fold-case).
	spellings sync.Map
	cover     serverCover // server_cover.go
}

// ServerDefects lists every server defect.
var ServerDefects = []ServerDefect{NoStateNotify, ForwardForged, IgnoreLengthLimit, KeepBadConn, DropUserOffline, WrongObserved,
	LeakV11, UDPNoToken, PunchTrustEndpoints, StripKeys}

// NewServerProxy listens on a loopback port and forwards to upstream.
func NewServerProxy(upstream netip.AddrPort, defect ServerDefect) (*ServerProxy, error) {
	known := false
	for _, d := range ServerDefects {
		known = known || d == defect
	}
	if !known {
		return nil, fmt.Errorf("defective: unknown server defect %q", defect)
	}
	ln, udp, err := listenBoth()
	if err != nil {
		return nil, err
	}
	p := &ServerProxy{ln: ln, upstream: upstream, defect: defect, addrs: map[netip.AddrPort]netip.AddrPort{}, conns: map[net.Conn]struct{}{}}
	p.udpProxy.init(udp)
	p.wg.Add(2)
	go p.accept()
	go p.serveUDP()
	return p, nil
}

// Addr is the proxy's address: the defective server's endpoint.
func (p *ServerProxy) Addr() netip.AddrPort { return p.ln.Addr().(*net.TCPAddr).AddrPort() }

// Close stops the proxy and closes every connection it holds.
func (p *ServerProxy) Close() {
	_ = p.ln.Close()
	p.closeUDP()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *ServerProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *ServerProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			_ = c.Close()
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func addrOf(a net.Addr) netip.AddrPort {
	ap := a.(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// pair is one proxied connection.
type pair struct {
	client, server net.Conn
	mu             sync.Mutex
	user           string     // logged-in userID, once the Login was sent
	lastError      string     // code of the last Error the server sent
	loggedIn       bool       // a LoginResult ok came
	wmu            sync.Mutex // serialises writes to client
	started        bool       // a client frame has been seen
	chats          int        // ChatMessages from the client
	cover          coverPair  // server_cover.go
}

func (p *ServerProxy) serve(c net.Conn) {
	defer p.wg.Done()
	var d net.Dialer
	s, err := d.DialContext(context.Background(), "tcp", p.upstream.String())
	if err != nil {
		_ = c.Close()
		return
	}
	if !p.track(s) {
		_ = s.Close()
		_ = c.Close()
		return
	}
	up := addrOf(s.LocalAddr())
	p.mu.Lock()
	p.addrs[up] = addrOf(c.RemoteAddr())
	p.mu.Unlock()
	pr := &pair{client: c, server: s}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.clientToServer(pr)
		_ = s.Close()
	}()
	p.serverToClient(pr)
	pr.mu.Lock()
	keep := p.defect == KeepBadConn && (pr.lastError == protocol.CodeBadFrame || pr.lastError == protocol.CodeUnknownType)
	pr.mu.Unlock()
	defer pr.coverStop()
	if !keep && !p.coverKeep(pr) {
		_ = c.Close()
	}
	<-done // ends when the client closes (or Close closes it)
	_ = c.Close()
	p.mu.Lock()
	delete(p.addrs, up)
	if p.conns != nil {
		delete(p.conns, c)
		delete(p.conns, s)
	}
	p.mu.Unlock()
}

// clientToServer copies frames from the client: byte for byte as they
// arrive, unless the defect rewrites client frames (forward-forged reads
// each whole frame first, so a frame stalled half way never reaches the
// real server: that proxy also fails server/5.9/stalled-frame).
func (p *ServerProxy) clientToServer(pr *pair) {
	r := bufio.NewReader(pr.client)
	hdr := make([]byte, 4)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr)
		if n > protocol.MaxFrameLen {
			if p.defect == IgnoreLengthLimit {
				// Wait for the whole oversized payload, then drop it.
				if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
					return
				}
				continue
			}
			_, _ = pr.server.Write(hdr)
			_, _ = io.Copy(pr.server, r)
			return
		}
		if p.rewritesInPlace() {
			if err := p.passRepaired(pr, r, hdr, n); err != nil {
				return
			}
			continue
		}
		if !p.wholeFrames(pr) {
			// Nothing to rewrite: pass the frame on as its bytes arrive,
			// so a frame stalled half way reaches the real server as such.
			if _, err := pr.server.Write(hdr); err != nil {
				return
			}
			sink, done := p.clientSink(pr)
			if _, err := io.CopyN(sink, r, int64(n)); err != nil {
				return
			}
			done()
			continue
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		out := append(append([]byte(nil), hdr...), payload...)
		if f, err := protocol.Unmarshal(payload); err == nil {
			switch nf, send := p.fromClient(pr, f); {
			case !send:
				continue
			case nf != nil:
				b, err := protocol.Marshal(*nf)
				if err != nil {
					return
				}
				out = b
			}
		}
		if _, err := pr.server.Write(out); err != nil {
			return
		}
	}
}

// fromClient applies the defect to a well-formed client frame: it returns a
// replacement (nil: unchanged) and whether to send anything.
func (p *ServerProxy) fromClient(pr *pair, f protocol.Frame) (*protocol.Frame, bool) {
	if f.Type == protocol.TypeLogin {
		var l protocol.Login
		_ = json.Unmarshal(f.Body, &l)
		pr.mu.Lock()
		if pr.user == "" {
			pr.user = l.UserID
		}
		pr.mu.Unlock()
	}
	if nf := p.fromClient11(f); nf != nil {
		return nf, true
	}
	if !(protocol.Relayable(f.Type) || protocol.PunchRelayable(f.Type)) || p.defect != ForwardForged {
		return nil, true
	}
	pr.mu.Lock()
	user := pr.user
	pr.mu.Unlock()
	var m map[string]any
	if json.Unmarshal(f.Body, &m) != nil {
		return nil, true
	}
	if from, _ := m["userID"].(string); from == "" || from == user {
		return nil, true
	}
	m["userID"] = user // launder the forged sender so the server forwards it
	b, _ := json.Marshal(m)
	f.Body = b
	return &f, true
}

// serverToClient copies frames from the server, translating endpoints and
// applying the defect.
func (p *ServerProxy) serverToClient(pr *pair) {
	r := protocol.NewReader(bufio.NewReader(pr.server))
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return
		}
		refusal := false
		if f.Type == protocol.TypeError {
			var e protocol.Error
			_ = json.Unmarshal(f.Body, &e)
			pr.mu.Lock()
			pr.lastError = e.Code
			pr.mu.Unlock()
			refusal = e.Code == protocol.CodeUserOffline
			if p.defect == DropUserOffline && e.Code == protocol.CodeUserOffline {
				continue
			}
		}
		if f.Type == protocol.TypeUserStateNotify && p.defect == NoStateNotify {
			continue
		}
		f = p.toClient11(pr, p.moreToClient(p.translate(f)))
		if p.defect == FoldCase {
			f.Body = p.respell(f.Body)
		}
		if p.defect == DropUnnumberedAck && f.Type == protocol.TypeHeartbeatAck && f.Re == 0 {
			continue
		}
		out := p.coverToClient(pr, f)
		if len(out) == 0 {
			continue
		}
		f = out[0]
		pr.wmu.Lock()
		err = protocol.WriteFrame(pr.client, f)
		for _, g := range out[1:] {
			if err == nil {
				err = protocol.WriteFrame(pr.client, g)
			}
		}
		if err == nil && p.defect == SelfNotify && f.Type == protocol.TypeLoginResult {
			err = p.notifySelf(pr, f)
		}
		pr.wmu.Unlock()
		if err != nil {
			return
		}
		if p.defect == BadFrameFatal && errorCode(f) == protocol.CodeBadFrame {
			return
		}
		if p.defect == CutAfterRefusal && refusal {
			return
		}
	}
}

// translate rewrites the server's view of endpoints (the proxy's upstream
// sockets) into the clients' real endpoints.
func (p *ServerProxy) translate(f protocol.Frame) protocol.Frame {
	mapEP := func(ip string, port int) (string, int) {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return ip, port
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if c, ok := p.addrs[netip.AddrPortFrom(a.Unmap(), uint16(port))]; ok {
			return c.Addr().String(), int(c.Port())
		}
		return ip, port
	}
	switch f.Type {
	case protocol.TypeLoginResult:
		var b protocol.LoginResult
		if json.Unmarshal(f.Body, &b) == nil && b.Observed != nil {
			b.Observed.IP, b.Observed.Port = mapEP(b.Observed.IP, b.Observed.Port)
			if p.defect == WrongObserved {
				b.Observed.Port = b.Observed.Port%65535 + 1
			}
			f.Body, _ = json.Marshal(b)
		}
	case protocol.TypeResP2pInfo:
		var b protocol.ResP2pInfo
		if json.Unmarshal(f.Body, &b) == nil {
			for i := range b.Users {
				b.Users[i].IP, b.Users[i].Port = mapEP(b.Users[i].IP, b.Users[i].Port)
				p.peer11(&b.Users[i].Peer11)
			}
			f.Body, _ = json.Marshal(b)
		}
	case protocol.TypeUserStateNotify:
		var b protocol.UserStateNotify
		if json.Unmarshal(f.Body, &b) == nil && b.IP != "" {
			b.IP, b.Port = mapEP(b.IP, b.Port)
			p.peer11(&b.Peer11)
			f.Body, _ = json.Marshal(b)
		}
	case protocol.TypePunchConnect:
		var b protocol.PunchConnect
		if json.Unmarshal(f.Body, &b) == nil {
			if b.TCP != nil {
				b.TCP.IP, b.TCP.Port = mapEP(b.TCP.IP, b.TCP.Port)
			}
			b.UDP = p.mapUDP(b.UDP)
			f.Body, _ = json.Marshal(b)
		}
	}
	return f
}
