package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/p2plab/p2plab/protocol"
)

// udpState is the client's UDP socket (docs/protocol.md 9.5): bound to the
// IP and port number of its TCP endpoint, it carries the hellos to the
// server, the punch datagrams, and QUIC channels (quic-go demultiplexes:
// datagrams whose first byte is 0 are ours, the rest QUIC's).
type udpState struct {
	pc   *net.UDPConn
	tr   *quic.Transport
	ln   *quic.Listener
	bind netip.AddrPort

	mu       sync.Mutex
	observed netip.AddrPort // what the server saw, from the last hello ack
	acked    chan struct{}  // closed at the first ack
	ackOnce  sync.Once
	seq      int64
	poke     chan struct{} // a new login: send a hello with its token now
}

// startUDP opens the UDP socket at bind and starts its reader, its QUIC
// listener and its hello loop, all stopped by closeUDP. It does nothing
// without punching or a server without udp.
func (c *Client) startUDP(bind netip.AddrPort) error {
	if !c.cfg.Punch || c.cfg.Version1 || !c.serverHas(protocol.FeatureUDP) {
		return nil
	}
	c.mu.Lock()
	if u := c.udp; u != nil && u.bind == bind {
		c.mu.Unlock()
		select {
		case u.poke <- struct{}{}:
		default:
		}
		return nil
	}
	c.mu.Unlock()
	c.closeUDP()
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(bind))
	if err != nil {
		return fmt.Errorf("client: UDP on %s: %w", bind, err)
	}
	u := &udpState{pc: pc, tr: &quic.Transport{Conn: pc}, bind: bind, acked: make(chan struct{}),
		poke: make(chan struct{}, 1)}
	qconf := c.quicConfig()
	qconf.GetConfigForClient = func(info *quic.ClientInfo) (*quic.Config, error) {
		// Only a peer we are punching with, from the endpoint the server
		// handed out (docs/protocol.md 9.6).
		if c.punchFrom(addrPortOf(info.RemoteAddr)) == nil {
			return nil, errors.New("unexpected source")
		}
		return nil, nil
	}
	tconf := &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
			run := c.punchFrom(addrPortOf(hi.Conn.RemoteAddr()))
			if run == nil {
				return nil, errors.New("client: unexpected QUIC source")
			}
			return c.tlsFor(run.key, true), nil
		},
	}
	ln, err := u.tr.Listen(tconf, qconf)
	if err != nil {
		pc.Close()
		return fmt.Errorf("client: QUIC listen on %s: %w", bind, err)
	}
	u.ln = ln
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		ln.Close()
		u.tr.Close()
		return errors.New("client: stopping")
	}
	c.udp = u
	c.mu.Unlock()
	c.goTracked(func() { c.udpReader(u) })
	c.goTracked(func() { c.acceptQUIC(u) })
	c.goTracked(func() { c.helloLoop(u) })
	return nil
}

// closeUDP stops the UDP socket and everything on it.
func (c *Client) closeUDP() {
	c.mu.Lock()
	u := c.udp
	c.udp = nil
	c.mu.Unlock()
	if u != nil {
		u.ln.Close()
		u.tr.Close()
		u.pc.Close()
	}
}

// udpNow returns the UDP state and our observed UDP endpoint.
func (c *Client) udpNow() (*udpState, netip.AddrPort) {
	c.mu.Lock()
	u := c.udp
	c.mu.Unlock()
	if u == nil {
		return nil, netip.AddrPort{}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u, u.observed
}

// helloLoop sends UDP hellos (docs/protocol.md 9.5): every 250 ms until the
// first ack (at most 8), then every KeepAlive; a new login (poke) sends one
// at once with its new token.
func (c *Client) helloLoop(u *udpState) {
	srv := net.UDPAddrFromAddrPort(c.cfg.Server)
	send := true
	for n := 0; ; {
		if send {
			c.mu.Lock()
			tok := c.srv11.token
			c.mu.Unlock()
			u.mu.Lock()
			u.seq++
			h := protocol.UDPHello{UserID: c.cfg.UserID, Token: tok, Seq: u.seq}
			u.mu.Unlock()
			if b, err := protocol.MarshalDatagram(protocol.MustFrame(protocol.TypeUDPHello, h)); err == nil && tok != "" {
				if _, err := u.tr.WriteTo(b, srv); errors.Is(err, net.ErrClosed) {
					return
				}
			}
			n++
		}
		wait, acked := c.cfg.KeepAlive, u.acked
		select {
		case <-u.acked:
			acked = nil // already acked: keepalive pace
		default:
			if n < 8 {
				wait = 250 * time.Millisecond
			}
		}
		t := time.NewTimer(wait)
		send = true
		select {
		case <-t.C:
		case <-u.poke:
		case <-acked:
			send = false // the first ack: the next hello after KeepAlive
		case <-c.runCtx.Done():
			t.Stop()
			return
		}
		t.Stop()
		if c.udpGone(u) {
			return
		}
	}
}

func (c *Client) udpGone(u *udpState) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.udp != u
}

// udpReader handles the non-QUIC datagrams: hello acks from the server and
// punch datagrams from peers. Anything else, or from anyone else, is
// dropped.
func (c *Client) udpReader(u *udpState) {
	buf := make([]byte, 2048)
	for {
		n, from, err := u.tr.ReadNonQUICPacket(c.runCtx, buf)
		if err != nil {
			return
		}
		src := addrPortOf(from)
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		f, err := protocol.UnmarshalDatagram(buf[:n])
		if err != nil {
			continue
		}
		switch f.Type {
		case protocol.TypeUDPHelloAck:
			var a protocol.UDPHelloAck
			if src != c.cfg.Server || f.DecodeBody(&a) != nil {
				continue
			}
			if obs, ok := a.Observed.AddrPort(); ok {
				u.mu.Lock()
				u.observed = obs
				u.mu.Unlock()
				u.ackOnce.Do(func() { close(u.acked) })
			}
		case protocol.TypePunch:
			var p protocol.Punch
			if f.DecodeBody(&p) != nil {
				continue
			}
			if run := c.punchFrom(src); run != nil && run.id == p.PunchID && run.peer == p.UserID {
				run.sawPunch()
			}
		}
	}
}

// acceptQUIC takes the QUIC channels peers open after a punch.
func (c *Client) acceptQUIC(u *udpState) {
	for {
		qc, err := u.ln.Accept(c.runCtx)
		if err != nil {
			return
		}
		if !c.goTracked(func() { c.handleQUIC(qc) }) {
			qc.CloseWithError(0, "stopping")
			return
		}
	}
}

// handleQUIC makes a channel of an accepted QUIC connection: its first
// stream's first frame must be SetupP2PMessage naming the peer we punch
// with from that source, whose key the TLS handshake proved (9.4, 9.8).
func (c *Client) handleQUIC(qc *quic.Conn) {
	remote := addrPortOf(qc.RemoteAddr())
	run := c.punchFrom(remote)
	fail := func(reason string) {
		peer := "unknown"
		if run != nil {
			peer = run.peer
		}
		c.logEntry(protocol.LogEntry{Kind: protocol.LogRefused, Peer: peer, Addr: remote, Reason: reason})
		qc.CloseWithError(1, reason)
	}
	if run == nil {
		fail("identity: unexpected source")
		return
	}
	ctx, cancel := context.WithTimeout(c.runCtx, c.cfg.Heartbeat*time.Duration(c.cfg.Misses))
	st, err := qc.AcceptStream(ctx)
	cancel()
	if err != nil {
		fail("no stream")
		return
	}
	conn := quicConn{Stream: st, qc: qc}
	r := newReader(conn)
	l := newLink(conn, r, c.pulse, c.cfg.Misses)
	_ = conn.SetReadDeadline(time.Now().Add(l.deadTime()))
	s, err := readSetup(r, run.peer)
	if err != nil {
		fail("identity: " + shortErr(err))
		return
	}
	_ = s
	ch := &channel{peer: run.peer, initiator: run.peer, local: addrPortOf(qc.LocalAddr()), remote: remote,
		openedAt: time.Now().UTC(), l: l, transport: protocol.TransportUDP, method: protocol.MethodUDPPunch}
	c.logEntry(protocol.LogEntry{Kind: protocol.LogAccepted, Peer: ch.peer, Addr: ch.remote})
	run.done(ch)
	c.addChannel(ch)
	c.serveChannel(ch)
}

// dialQUIC opens a QUIC channel to peer at ep over the punched socket
// (docs/protocol.md 9.8) and sends SetupP2PMessage first.
func (c *Client) dialQUIC(ctx context.Context, run *punchRun, ep netip.AddrPort) (*channel, error) {
	u, _ := c.udpNow()
	if u == nil {
		return nil, errors.New("client: no UDP socket")
	}
	qc, err := u.tr.Dial(ctx, net.UDPAddrFromAddrPort(ep), c.tlsFor(run.key, false), c.quicConfig())
	if err != nil {
		return nil, fmt.Errorf("client: QUIC dial %s: %w", ep, err)
	}
	st, err := qc.OpenStreamSync(ctx)
	if err != nil {
		qc.CloseWithError(1, "no stream")
		return nil, fmt.Errorf("client: QUIC stream to %s: %w", ep, err)
	}
	conn := quicConn{Stream: st, qc: qc}
	if err := writeDirect(conn, setupFrame(protocol.SetupP2P{UserID: c.cfg.UserID})); err != nil {
		conn.Close()
		return nil, err
	}
	l := newLink(conn, newReader(conn), c.pulse, c.cfg.Misses)
	l.lead = true
	return &channel{peer: run.peer, initiator: c.cfg.UserID, local: addrPortOf(qc.LocalAddr()), remote: ep,
		openedAt: time.Now().UTC(), l: l, dialed: true, transport: protocol.TransportUDP, method: protocol.MethodUDPPunch}, nil
}
