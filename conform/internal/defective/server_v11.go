package defective

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/p2plab/p2plab/protocol"
)

// Server defects of protocol version 1.1 (docs/protocol.md section 9).
const (
	// LeakV11 marks every Login as a v1.1 one (features [punch]) on its
	// way to the real server, so v1 clients receive v1.1 members and are
	// relayed PunchConnect.
	LeakV11 ServerDefect = "leak-v11"
	// UDPNoToken accepts every UDP hello: it puts the user's real token in
	// a hello with a wrong one, and answers a hello for a user who is not
	// logged in itself.
	UDPNoToken ServerDefect = "udp-no-token"
	// PunchTrustEndpoints relays the tcp endpoint a PunchConnect's sender
	// wrote instead of the server's record.
	PunchTrustEndpoints ServerDefect = "punch-trust-endpoints"
	// StripKeys hands out no user keys in ResP2pInfo and UserStateNotify.
	StripKeys ServerDefect = "strip-keys"
)

// udpProxy is the proxy's UDP side: datagrams to the proxy's port go to
// the real server's UDP port (the port number of its TCP listener, 9.5)
// from one upstream socket per client source, and come back translated.
type udpProxy struct {
	conn *net.UDPConn

	umu      sync.Mutex
	closed   bool
	ups      map[netip.AddrPort]*net.UDPConn   // client source -> upstream socket
	back     map[netip.AddrPort]netip.AddrPort // upstream socket -> client source
	tokens   map[string]string                 // userID -> its UDP token
	punchTCP map[string]protocol.Endpoint      // punchID/answer -> what the sender wrote
}

func (u *udpProxy) init(conn *net.UDPConn) {
	u.conn = conn
	u.ups, u.back = map[netip.AddrPort]*net.UDPConn{}, map[netip.AddrPort]netip.AddrPort{}
	u.tokens, u.punchTCP = map[string]string{}, map[string]protocol.Endpoint{}
}

// listenBoth listens on TCP and UDP on one loopback port number.
func listenBoth() (net.Listener, *net.UDPConn, error) {
	var last error
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("defective: listen: %w", err)
		}
		udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ln.Addr().(*net.TCPAddr).AddrPort()))
		if err == nil {
			return ln, udp, nil
		}
		last = err
		_ = ln.Close()
	}
	return nil, nil, fmt.Errorf("defective: no port free for both TCP and UDP: %w", last)
}

func (p *ServerProxy) closeUDP() {
	p.umu.Lock()
	p.closed = true
	_ = p.conn.Close()
	for _, c := range p.ups {
		_ = c.Close()
	}
	p.umu.Unlock()
}

// serveUDP forwards datagrams from clients until the proxy closes.
func (p *ServerProxy) serveUDP() {
	defer p.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, src, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		p.fromClientUDP(append([]byte(nil), buf[:n]...), src)
	}
}

func (p *ServerProxy) fromClientUDP(dgram []byte, src netip.AddrPort) {
	if f, err := protocol.UnmarshalDatagram(dgram); err == nil && f.Type == protocol.TypeUDPHello && p.defect == UDPNoToken {
		var h protocol.UDPHello
		_ = f.DecodeBody(&h)
		p.umu.Lock()
		tok, known := p.tokens[h.UserID]
		p.umu.Unlock()
		if !known {
			if b, err := protocol.MarshalDatagram(protocol.MustFrame(protocol.TypeUDPHelloAck, protocol.UDPHelloAck{Seq: h.Seq, Observed: protocol.EndpointOf(src)})); err == nil {
				_, _ = p.conn.WriteToUDPAddrPort(b, src)
			}
			return
		}
		h.Token = tok
		if b, err := protocol.MarshalDatagram(protocol.MustFrame(protocol.TypeUDPHello, h)); err == nil {
			dgram = b
		}
	}
	up := p.upstreamUDP(src)
	if up != nil {
		_, _ = up.Write(dgram)
	}
}

// upstreamUDP is the upstream socket of a client source, made (with its
// reader) on first use.
func (p *ServerProxy) upstreamUDP(src netip.AddrPort) *net.UDPConn {
	p.umu.Lock()
	defer p.umu.Unlock()
	if p.closed {
		return nil
	}
	if c := p.ups[src]; c != nil {
		return c
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(p.upstream))
	if err != nil {
		return nil
	}
	local := c.LocalAddr().(*net.UDPAddr).AddrPort()
	p.ups[src], p.back[netip.AddrPortFrom(local.Addr().Unmap(), local.Port())] = c, src
	p.wg.Add(1)
	go p.toClientUDP(c, src)
	return c
}

// toClientUDP forwards the server's answers to src, with the observed
// endpoint translated back.
func (p *ServerProxy) toClientUDP(c *net.UDPConn, src netip.AddrPort) {
	defer p.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		out := buf[:n]
		if f, err := protocol.UnmarshalDatagram(out); err == nil && f.Type == protocol.TypeUDPHelloAck {
			var a protocol.UDPHelloAck
			_ = f.DecodeBody(&a)
			a.Observed = protocol.EndpointOf(src)
			if p.defect == WrongObserved {
				a.Observed.Port = a.Observed.Port%65535 + 1
			}
			if b, err := protocol.MarshalDatagram(protocol.MustFrame(protocol.TypeUDPHelloAck, a)); err == nil {
				out = b
			}
		}
		_, _ = p.conn.WriteToUDPAddrPort(out, src)
	}
}

// mapUDP translates an upstream socket in a udp endpoint back to the
// client's source.
func (p *ServerProxy) mapUDP(ep *protocol.Endpoint) *protocol.Endpoint {
	if ep == nil {
		return nil
	}
	ap, ok := ep.AddrPort()
	if !ok {
		return ep
	}
	p.umu.Lock()
	defer p.umu.Unlock()
	if src, ok := p.back[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())]; ok {
		e := protocol.EndpointOf(src)
		return &e
	}
	return ep
}

// peer11 translates (and, with StripKeys, breaks) the v1.1 members of a
// user's entry.
func (p *ServerProxy) peer11(pp *protocol.Peer11) {
	pp.UDP = p.mapUDP(pp.UDP)
	if p.defect == StripKeys {
		pp.Key = ""
	}
}

// wholeFrames reports whether client frames are read whole (to be
// rewritten) rather than passed on as their bytes arrive.
func (p *ServerProxy) wholeFrames(pr *pair) bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	switch p.defect {
	case ForwardForged, PunchTrustEndpoints:
		return true
	case LeakV11, UDPNoToken:
		return !pr.loggedIn
	}
	return false
}

// fromClient11 applies a v1.1 defect to a client frame: a replacement, or
// nil to go on as usual.
func (p *ServerProxy) fromClient11(f protocol.Frame) *protocol.Frame {
	switch {
	case p.defect == LeakV11 && f.Type == protocol.TypeLogin:
		var m map[string]json.RawMessage
		if json.Unmarshal(f.Body, &m) != nil {
			return nil
		}
		if _, ok := m["features"]; ok {
			return nil
		}
		m["features"] = json.RawMessage(`["punch"]`)
		f.Body, _ = json.Marshal(m)
		return &f
	case p.defect == PunchTrustEndpoints && f.Type == protocol.TypePunchConnect:
		var pc protocol.PunchConnect
		if json.Unmarshal(f.Body, &pc) == nil && pc.TCP != nil {
			p.umu.Lock()
			p.punchTCP[fmt.Sprint(pc.PunchID, "/", pc.Answer)] = *pc.TCP
			p.umu.Unlock()
		}
	}
	return nil
}

// toClient11 notes logins and tokens, and applies PunchTrustEndpoints, on
// a frame from the server.
func (p *ServerProxy) toClient11(pr *pair, f protocol.Frame) protocol.Frame {
	switch f.Type {
	case protocol.TypeLoginResult:
		var lr protocol.LoginResult
		_ = json.Unmarshal(f.Body, &lr)
		pr.mu.Lock()
		user := pr.user
		pr.loggedIn = pr.loggedIn || lr.OK
		pr.mu.Unlock()
		if lr.OK && lr.Token != "" && user != "" {
			p.umu.Lock()
			p.tokens[user] = lr.Token
			p.umu.Unlock()
		}
	case protocol.TypePunchConnect:
		if p.defect != PunchTrustEndpoints {
			return f
		}
		var pc protocol.PunchConnect
		if json.Unmarshal(f.Body, &pc) != nil {
			return f
		}
		p.umu.Lock()
		tcp, ok := p.punchTCP[fmt.Sprint(pc.PunchID, "/", pc.Answer)]
		p.umu.Unlock()
		if ok {
			pc.TCP = &tcp
			f.Body, _ = json.Marshal(pc)
		}
	}
	return f
}
