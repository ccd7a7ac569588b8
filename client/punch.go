package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/p2plab/p2plab/protocol"
)

// Timings of the punch timetable (docs/protocol.md 9.6).
const (
	tcpPunchWindow = time.Second
	udpPunchWindow = 1500 * time.Millisecond
	punchEvery     = 50 * time.Millisecond
)

var (
	errNoAnswer = errors.New("client: no answer to PunchConnect")
	errNoPunch  = errors.New("client: no punch datagram arrived")
	errBusy     = errors.New("client: a punch with this peer is already running")
)

// punchRun is one coordinated punch with a peer, on either side.
type punchRun struct {
	id, peer  string
	key       ed25519.PublicKey // the peer's vouched key (QUIC, 9.8)
	initiator bool
	ctx       context.Context
	cancel    context.CancelFunc

	answer chan protocol.PunchConnect
	sync   chan protocol.PunchSync

	// the initiator's ladder (docs/protocol.md 9.7), nil for a responder:
	// its handshake gate, and what to do before a tcp-punch to ep (called
	// before the PunchSync goes out)
	gate      *handshakeGate
	beforeTCP func(ep netip.AddrPort)

	// set under Client.mu
	peerTCP, peerUDP netip.AddrPort // the server's records of the peer
	udpActive        bool           // punch datagrams and QUIC from peerUDP are expected

	punchOnce sync.Once
	punched   chan struct{} // a punch datagram arrived from peerUDP
	gotOnce   sync.Once
	got       chan *channel // the accepted QUIC channel (responder)
}

func (r *punchRun) sawPunch()        { r.punchOnce.Do(func() { close(r.punched) }) }
func (r *punchRun) done(ch *channel) { r.gotOnce.Do(func() { r.got <- ch }) }

func newPunchID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// punchFrom returns the run expecting UDP from src, if any.
func (c *Client) punchFrom(src netip.AddrPort) *punchRun {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.punches {
		if r.udpActive && r.peerUDP == src {
			return r
		}
	}
	return nil
}

// connectPeer opens a channel on demand (POST /v1/connect): the ladder
// when it has more than the plain dial to offer, else the plain dial.
func (c *Client) connectPeer(ctx context.Context, peer string, ep netip.AddrPort) (*channel, error) {
	if !c.canPunch(peer) && !c.lanCandidate(peer).IsValid() {
		return c.dialPeer(ctx, peer, ep)
	}
	return c.ladder(ctx, peer, ep)
}

// myMethods is what this client can try with peer now: the configured
// methods, udp-punch only with a UDP endpoint the server has seen and a
// peer that takes QUIC.
func (c *Client) myMethods(peer string) []string {
	if u, obs := c.udpNow(); u != nil && !obs.IsValid() {
		// the first hello may still be on its way: give it a moment
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-u.acked:
		case <-t.C:
		}
		t.Stop()
	}
	_, obs := c.udpNow()
	_, info, _ := c.peerInfo(peer)
	var out []string
	for _, m := range c.cfg.Methods {
		switch m {
		case protocol.MethodTCPPunch:
			out = append(out, m)
		case protocol.MethodUDPPunch:
			if obs.IsValid() && protocol.Has(info.Features, protocol.FeatureQUIC) && proves(info) {
				out = append(out, m)
			}
		}
	}
	return out
}

func common(a, b []string) []string {
	var out []string
	for _, m := range a {
		if slices.Contains(b, m) {
			out = append(out, m)
		}
	}
	return out
}

// addPunch registers run as the punch with its peer; false if one runs.
func (c *Client) addPunch(run *punchRun) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.punches[run.peer] != nil {
		return false
	}
	c.punches[run.peer] = run
	return true
}

func (c *Client) removePunch(run *punchRun) {
	run.cancel()
	c.mu.Lock()
	if c.punches[run.peer] == run {
		delete(c.punches, run.peer)
	}
	c.mu.Unlock()
}

func (c *Client) newRun(ctx context.Context, id, peer string, initiator bool) *punchRun {
	_, info, _ := c.peerInfo(peer)
	key, _ := protocol.ParseKey(info.Key)
	rctx, cancel := context.WithCancel(ctx)
	return &punchRun{id: id, peer: peer, key: key, initiator: initiator, ctx: rctx, cancel: cancel,
		answer: make(chan protocol.PunchConnect, 1), sync: make(chan protocol.PunchSync, 1),
		punched: make(chan struct{}), got: make(chan *channel, 1)}
}

// sendServer sends f to the server, if logged in.
func (c *Client) sendServer(f protocol.Frame) error {
	c.mu.Lock()
	srv := c.srv
	c.mu.Unlock()
	if srv == nil {
		return ErrNoPath
	}
	return srv.send(f)
}

// punch runs one coordinated punch as its initiator (docs/protocol.md
// 9.6): connect, answer, RTT, sync, then the timetable; the rest of the
// ladder passes its gate and its hook for the tcp-punch (9.7).
func (c *Client) punch(ctx context.Context, peer string, gate *handshakeGate, beforeTCP func(netip.AddrPort)) (*channel, error) {
	mine := c.myMethods(peer)
	if len(mine) == 0 {
		return nil, errors.New("client: no punching method")
	}
	run := c.newRun(ctx, newPunchID(), peer, true)
	run.gate, run.beforeTCP = gate, beforeTCP
	if !c.addPunch(run) {
		run.cancel()
		return nil, errBusy
	}
	defer c.removePunch(run)
	t0 := time.Now()
	if err := c.sendServer(protocol.MustFrame(protocol.TypePunchConnect,
		protocol.PunchConnect{PunchID: run.id, UserID: c.cfg.UserID, DestUserID: peer, Methods: mine})); err != nil {
		c.logUnanswered(peer, mine, "no server")
		return nil, err
	}
	var ans protocol.PunchConnect
	select {
	case ans = <-run.answer:
	case <-run.ctx.Done():
		if reason := reasonOf(run.ctx, nil); reason == "cancelled" {
			c.logUnanswered(peer, mine, reason)
			return nil, context.Cause(run.ctx)
		}
		c.logUnanswered(peer, mine, "no answer")
		return nil, errNoAnswer
	}
	rtt := time.Since(t0)
	methods := common(mine, ans.Methods)
	c.setPeerEndpoints(run, ans)
	if run.beforeTCP != nil && slices.Contains(methods, protocol.MethodTCPPunch) {
		// before the sync: the peer's SYNs come only after it (9.7)
		c.mu.Lock()
		tcpEP := run.peerTCP
		c.mu.Unlock()
		run.beforeTCP(tcpEP)
	}
	if err := c.sendServer(protocol.MustFrame(protocol.TypePunchSync,
		protocol.PunchSync{PunchID: run.id, UserID: c.cfg.UserID, DestUserID: peer, Methods: methods})); err != nil {
		return nil, err
	}
	t := time.NewTimer(rtt / 2)
	select {
	case <-t.C:
	case <-run.ctx.Done():
		t.Stop()
		c.logUnanswered(peer, methods, reasonOf(run.ctx, run.ctx.Err()))
		return nil, causeOf(run.ctx, run.ctx.Err())
	}
	return c.timetable(run, methods)
}

// logUnanswered writes, for each method a coordination offered that never
// reached its timetable, a try and a try failed (docs/protocol.md 9.7):
// every attempt of the ladder shows in the log and the events. The
// endpoint is the one the attempt would have aimed at as this client knows
// it (the peer's advertised TCP endpoint, its UDP endpoint for udp-punch).
func (c *Client) logUnanswered(peer string, methods []string, reason string) {
	ep, info, _ := c.peerInfo(peer)
	for _, m := range methods {
		to := ep
		if m == protocol.MethodUDPPunch && info.UDP != nil {
			if u, ok := info.UDP.AddrPort(); ok {
				to = u
			}
		}
		c.logTry(peer, to, m)
		c.logTryFailed(peer, to, m, reason)
	}
}

func (c *Client) setPeerEndpoints(run *punchRun, pc protocol.PunchConnect) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pc.TCP != nil {
		run.peerTCP, _ = pc.TCP.AddrPort()
	}
	if pc.UDP != nil {
		run.peerUDP, _ = pc.UDP.AddrPort()
	}
}

// onPunchFrame handles a PunchConnect or PunchSync relayed by the server
// (its sender and endpoints are the server's). It never blocks the server
// link: the responder's side runs on its own goroutine.
func (c *Client) onPunchFrame(f protocol.Frame) {
	if !c.cfg.Punch || c.cfg.Version1 {
		return
	}
	var pc protocol.PunchConnect
	if f.DecodeBody(&pc) != nil || !protocol.ValidUserID(pc.UserID) || pc.UserID == c.cfg.UserID {
		return
	}
	c.mu.Lock()
	run := c.punches[pc.UserID]
	c.mu.Unlock()
	switch {
	case f.Type == protocol.TypePunchSync:
		if run != nil && run.id == pc.PunchID && !run.initiator {
			select {
			case run.sync <- protocol.PunchSync{PunchID: pc.PunchID, Methods: pc.Methods}:
			default:
			}
		}
		return
	case pc.Answer:
		if run != nil && run.id == pc.PunchID && run.initiator {
			select {
			case run.answer <- pc:
			default:
			}
		}
		return
	}
	if run != nil {
		// Crossing requests: the smaller punchID proceeds.
		if run.id <= pc.PunchID {
			return
		}
		c.removePunch(run)
	}
	c.goTracked(func() { c.respond(pc) })
}

// respond is the responder's side of a punch: answer, wait for the sync,
// run the timetable.
func (c *Client) respond(pc protocol.PunchConnect) {
	peer := pc.UserID
	ctx, cancel := context.WithTimeout(c.runCtx, c.cfg.Ladder)
	defer cancel()
	run := c.newRun(ctx, pc.PunchID, peer, false)
	if !c.addPunch(run) {
		run.cancel()
		return
	}
	defer c.removePunch(run)
	c.setPeerEndpoints(run, pc)
	mine := c.myMethods(peer)
	if err := c.sendServer(protocol.MustFrame(protocol.TypePunchConnect, protocol.PunchConnect{PunchID: run.id,
		UserID: c.cfg.UserID, DestUserID: peer, Answer: true, Methods: mine})); err != nil {
		return
	}
	var s protocol.PunchSync
	select {
	case s = <-run.sync:
	case <-run.ctx.Done():
		return
	}
	_, _ = c.timetable(run, common(mine, s.Methods))
}

// timetable is what both sides do from "start" (docs/protocol.md 9.6):
// TCP simultaneous open, then UDP punching and QUIC.
func (c *Client) timetable(run *punchRun, methods []string) (*channel, error) {
	var errs []error
	c.mu.Lock()
	tcpEP, udpEP := run.peerTCP, run.peerUDP
	c.mu.Unlock()
	if slices.Contains(methods, protocol.MethodTCPPunch) && tcpEP.IsValid() {
		ch, err := c.tcpPunch(run, tcpEP)
		if ch != nil {
			return ch, nil
		}
		errs = append(errs, err)
	}
	if slices.Contains(methods, protocol.MethodUDPPunch) && udpEP.IsValid() {
		ch, err := c.udpPunch(run, udpEP)
		if ch != nil {
			return ch, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, errors.New("client: no common punching method")
	}
	return nil, errors.Join(errs...)
}

// tcpPunch dials the peer's TCP endpoint from the shared endpoint while the
// peer dials ours (TCP simultaneous open); a connection the peer's dial
// made through our listener counts too.
func (c *Client) tcpPunch(run *punchRun, ep netip.AddrPort) (*channel, error) {
	m := protocol.MethodTCPPunch
	c.logTry(run.peer, ep, m)
	ctx, cancel := context.WithTimeout(run.ctx, tcpPunchWindow)
	defer cancel()
	ch, err := c.dialGated(ctx, run.peer, ep, m, tcpPunchWindow, run.gate)
	if errors.Is(err, errOtherPathWon) || (err != nil && !errors.Is(err, errIdentity)) {
		// the peer's dial may have come in through our listener
		if ch = c.waitChannel(ctx, run.peer); ch != nil {
			err = nil
		}
	}
	if ch == nil {
		if err == nil {
			err = errNoChannel
		}
		c.logTryFailed(run.peer, ep, m, reasonOf(run.ctx, err))
		return nil, causeOf(run.ctx, err)
	}
	c.logEntry(protocol.LogEntry{Kind: protocol.LogPunched, Method: m, Peer: run.peer, Addr: ep})
	return ch, nil
}

// waitChannel waits until a channel to peer exists or ctx ends.
func (c *Client) waitChannel(ctx context.Context, peer string) *channel {
	for {
		if ch := c.existing(peer); ch != nil {
			return ch
		}
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return c.existing(peer)
		}
	}
}

// udpPunch sends punch datagrams to the peer's UDP endpoint until one of
// its own arrives from exactly there, then the initiator dials QUIC and the
// responder waits for it (docs/protocol.md 9.6, 9.8).
func (c *Client) udpPunch(run *punchRun, ep netip.AddrPort) (*channel, error) {
	m := protocol.MethodUDPPunch
	u, _ := c.udpNow()
	if u == nil || run.key == nil {
		return nil, errors.New("client: no UDP socket or no key for the peer")
	}
	c.logTry(run.peer, ep, m)
	c.mu.Lock()
	run.udpActive = true
	c.mu.Unlock()
	fail := func(err error) (*channel, error) {
		c.logTryFailed(run.peer, ep, m, reasonOf(run.ctx, err))
		return nil, causeOf(run.ctx, err)
	}
	if run.ctx.Err() != nil { // the ladder ended the punch during its TCP phase
		return fail(run.ctx.Err())
	}
	b, err := protocol.MarshalDatagram(protocol.MustFrame(protocol.TypePunch, protocol.Punch{PunchID: run.id, UserID: c.cfg.UserID}))
	if err != nil {
		return fail(err)
	}
	to := net.UDPAddrFromAddrPort(ep)
	deadline := time.NewTimer(udpPunchWindow)
	defer deadline.Stop()
	tick := time.NewTicker(punchEvery)
	defer tick.Stop()
	extra := -1 // datagrams still to send after the peer's arrived
	for extra != 0 {
		_, _ = u.tr.WriteTo(b, to)
		select {
		case <-tick.C:
		case <-run.punched:
			if extra < 0 {
				extra = 3
			}
		case <-deadline.C:
			return fail(errNoPunch)
		case <-run.ctx.Done():
			return fail(run.ctx.Err())
		}
		select {
		case <-run.punched:
			if extra < 0 {
				extra = 3
			}
			extra--
		default:
		}
	}
	var ch *channel
	if run.initiator {
		ch, err = c.dialQUIC(run.ctx, run, ep)
		if err == nil {
			err = c.startChannel(ch, ep)
		}
	} else {
		select {
		case ch = <-run.got:
		case <-run.ctx.Done():
			err = run.ctx.Err()
		}
	}
	if err != nil || ch == nil {
		if err == nil {
			err = errNoChannel
		}
		return fail(err)
	}
	c.logEntry(protocol.LogEntry{Kind: protocol.LogPunched, Method: m, Peer: run.peer, Addr: ep})
	return ch, nil
}
