package client

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
)

// errNoChannel is a ladder that ended without a channel: the pair stays
// on the relay.
var errNoChannel = errors.New("client: no channel: every attempt failed")

// Causes of an attempt the ladder ended itself (docs/protocol.md 9.7):
// another attempt made the channel, or the tcp-punch took over the plain
// dial's 4-tuple.
var (
	errCancelled  = errors.New("client: cancelled: another attempt made the channel")
	errSuperseded = errors.New("client: superseded by the tcp-punch to the same endpoint")
)

// Bounds of the stagger between the starts of two rungs (docs/protocol.md
// 9.7): twice the server link's measured round trip, within these.
const (
	staggerFloor = 250 * time.Millisecond
	staggerCap   = time.Second
)

// owedChannel opens the channel a newcomer owes an online user (6.2): the
// version 1 dial with redials, or the whole ladder when this client
// punches (docs/protocol.md 9.7).
func (c *Client) owedChannel(ctx context.Context, peer string, ep netip.AddrPort) {
	if !c.canPunch(peer) && !c.lanCandidate(peer).IsValid() {
		c.meshDial(ctx, peer, ep)
		return
	}
	_, _ = c.ladder(ctx, peer, ep)
}

// canPunch reports whether this client, its server and peer all take part
// in coordinated punching (docs/protocol.md 9.6).
func (c *Client) canPunch(peer string) bool {
	if !c.cfg.Punch || c.cfg.Version1 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	info := c.info[peer]
	return protocol.Has(c.srv11.features, protocol.FeaturePunch) && protocol.Has(info.Features, protocol.FeaturePunch)
}

// lanCandidate is the peer's local endpoint when both sit behind one
// public address and it differs from the advertised one (9.7 step 1).
func (c *Client) lanCandidate(peer string) netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	info, ep := c.info[peer], c.users[peer]
	if c.cfg.Version1 || info.Local == nil || !c.srv11.observed.IsValid() || ep.Addr() != c.srv11.observed.Addr() {
		return netip.AddrPort{}
	}
	local, ok := info.Local.AddrPort()
	if !ok || local == ep {
		return netip.AddrPort{}
	}
	return local
}

// stagger is the delay between the starts of two rungs of the ladder
// (docs/protocol.md 9.7): twice the server link's smoothed round trip as
// the kernel measures it, within [staggerFloor, staggerCap].
func (c *Client) stagger() time.Duration {
	c.mu.Lock()
	srv := c.srv
	c.mu.Unlock()
	var rtt time.Duration
	if srv != nil {
		rtt = connRTT(srv.conn)
	}
	return min(max(2*rtt, staggerFloor), staggerCap)
}

// handshakeGate lets one connection of a ladder at a time run the channel
// handshake (9.4), and none after one made the channel: a plain dial that
// connects while another's handshake runs waits here, and closes its bare
// connection when the ladder ends. A nil gate lets everything through.
type handshakeGate struct {
	sem  chan struct{}
	race context.Context // cancelled once an attempt won
}

func newHandshakeGate(race context.Context) *handshakeGate {
	return &handshakeGate{sem: make(chan struct{}, 1), race: race}
}

// enter waits for the gate; the error is the cause of ctx or of the race
// when either ends first.
func (g *handshakeGate) enter(ctx context.Context) error {
	if g == nil {
		return nil
	}
	select {
	case g.sem <- struct{}{}:
		if g.race.Err() != nil {
			<-g.sem
			return context.Cause(g.race)
		}
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-g.race.Done():
		return context.Cause(g.race)
	}
}

// leave ends a handshake: a channel keeps the gate shut for good.
func (g *handshakeGate) leave(made bool) {
	if g != nil && !made {
		<-g.sem
	}
}

// ladderRung is one attempt of the ladder.
type ladderRung struct {
	method string
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when run returned
	run    func(ctx context.Context) (*channel, error)
}

type rungResult struct {
	ch  *channel
	err error
}

// ladder runs the attempts of docs/protocol.md 9.7 towards peer, all
// within cfg.Ladder, in the manner of Happy Eyeballs (RFC 8305): the rungs
// start in ladder order, each one stagger after the previous one or at
// once when every started one has failed, and run side by side; the first
// channel wins and the attempts still running are cancelled. A client that
// does not punch keeps the version 1.1 order of its lan and direct dials
// unchanged: one after the other, each within 40% of the budget.
func (c *Client) ladder(parent context.Context, peer string, ep netip.AddrPort) (*channel, error) {
	ctx, cancel := context.WithTimeout(parent, c.cfg.Ladder)
	defer cancel()
	race, endRace := context.WithCancelCause(ctx)
	defer endRace(errCancelled)
	gate := newHandshakeGate(race)
	dialTimeout, staggered := c.cfg.DialTimeout, c.cfg.Punch && !c.cfg.Version1
	if !staggered {
		dialTimeout = c.cfg.Ladder * 2 / 5
	}
	var rungs []*ladderRung
	add := func(method string, run func(ctx context.Context) (*channel, error)) *ladderRung {
		rctx, rcancel := context.WithCancelCause(race)
		r := &ladderRung{method: method, ctx: rctx, cancel: rcancel, done: make(chan struct{}), run: run}
		rungs = append(rungs, r)
		return r
	}
	if lan := c.lanCandidate(peer); lan.IsValid() {
		add(protocol.MethodLAN, func(ctx context.Context) (*channel, error) {
			return c.tryDial(ctx, peer, lan, protocol.MethodLAN, dialTimeout, gate)
		})
	}
	direct := add(protocol.MethodDirect, func(ctx context.Context) (*channel, error) {
		return c.tryDial(ctx, peer, ep, protocol.MethodDirect, dialTimeout, gate)
	})
	if c.canPunch(peer) {
		// The tcp-punch dials from the same endpoint as the direct dial:
		// towards the same endpoint it ends that dial first (one 4-tuple),
		// before its PunchSync, so no SYN of the peer's meets that dial.
		beforeTCP := func(to netip.AddrPort) {
			if to == ep {
				direct.cancel(errSuperseded)
				<-direct.done
			}
		}
		add(protocol.MethodTCPPunch, func(ctx context.Context) (*channel, error) {
			return c.punch(ctx, peer, gate, beforeTCP)
		})
	}

	results := make(chan rungResult, len(rungs))
	var wg sync.WaitGroup
	defer wg.Wait() // after endRace: every attempt has ended and logged
	next, running := 0, 0
	start := func() {
		r := rungs[next]
		next++
		running++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.cancel(nil)
			ch, err := r.run(r.ctx)
			close(r.done)
			results <- rungResult{ch: ch, err: err}
		}()
	}
	stagger := c.stagger()
	c.log.Debug("ladder", "peer", peer, "rungs", len(rungs), "stagger", stagger, "staggered", staggered)
	timer := time.NewTimer(stagger)
	defer timer.Stop()
	if !staggered {
		timer.Stop() // each rung waits for the previous one to fail
	}
	start()
	var errs []error
	for running > 0 {
		select {
		case <-timer.C:
			if staggered && next < len(rungs) && ctx.Err() == nil {
				start()
				timer.Reset(stagger)
			}
		case res := <-results:
			running--
			switch {
			case res.ch != nil:
				endRace(errCancelled)
				return res.ch, nil
			case errors.Is(res.err, errOtherPathWon):
				// the peer's crossing dial holds the 4-tuple: its channel
				// arrives through accept (6.4)
				endRace(errCancelled)
				return c.existing(peer), res.err
			}
			if !errors.Is(res.err, errSuperseded) {
				errs = append(errs, res.err)
			}
			if ch := c.existing(peer); ch != nil {
				endRace(errCancelled)
				return ch, nil
			}
			if running == 0 && next < len(rungs) && ctx.Err() == nil {
				start()
				if staggered {
					timer.Reset(stagger)
				}
			}
		}
	}
	if ch := c.existing(peer); ch != nil {
		return ch, nil
	}
	return nil, errors.Join(append([]error{errNoChannel}, errs...)...)
}

// tryDial is one plain TCP attempt of the ladder, logged as such.
func (c *Client) tryDial(ctx context.Context, peer string, ep netip.AddrPort, method string, timeout time.Duration, gate *handshakeGate) (*channel, error) {
	c.logTry(peer, ep, method)
	ch, err := c.dialGated(ctx, peer, ep, method, timeout, gate)
	if err != nil && !errors.Is(err, errOtherPathWon) {
		c.logTryFailed(peer, ep, method, reasonOf(ctx, err))
	}
	return ch, err
}

// reasonOf is the log reason of an attempt that failed with err: the
// phrase of 7.2 for an attempt the ladder ended itself, else the error's
// short form. Such an error is returned as its cause, so callers can tell.
func reasonOf(ctx context.Context, err error) string {
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		return "unknown"
	}
	if ctx.Err() != nil {
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, errSuperseded):
			return "superseded"
		case errors.Is(cause, errCancelled):
			return "cancelled"
		}
	}
	return shortErr(err)
}

// causeOf returns the ladder's cause when it ended ctx, else err.
func causeOf(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errSuperseded) || errors.Is(cause, errCancelled) {
			return cause
		}
	}
	return err
}

func (c *Client) logTry(peer string, ep netip.AddrPort, method string) {
	c.logEntry(protocol.LogEntry{Kind: protocol.LogTry, Method: method, Peer: peer, Addr: ep})
	c.emit(api.Event{Type: api.EventTry, Peer: peer, Method: method})
}

func (c *Client) logTryFailed(peer string, ep netip.AddrPort, method, reason string) {
	c.logEntry(protocol.LogEntry{Kind: protocol.LogTryFailed, Method: method, Peer: peer, Addr: ep, Reason: reason})
	c.emit(api.Event{Type: api.EventTryFailed, Peer: peer, Method: method, Reason: reason})
}

// existing returns the open channel to peer, if any.
func (c *Client) existing(peer string) *channel {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch := c.chans[peer]; ch != nil && !ch.l.closed() {
		return ch
	}
	return nil
}

// isTimeout reports a dial that timed out.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
