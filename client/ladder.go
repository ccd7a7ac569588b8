package client

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
)

// errNoChannel is a ladder that ended without a channel: the pair stays
// on the relay.
var errNoChannel = errors.New("client: no channel: every attempt failed")

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

// ladder runs the attempts of docs/protocol.md 9.7 towards peer, stopping
// at the first channel, all within cfg.Ladder.
func (c *Client) ladder(parent context.Context, peer string, ep netip.AddrPort) (*channel, error) {
	ctx, cancel := context.WithTimeout(parent, c.cfg.Ladder)
	defer cancel()
	dialBudget := c.cfg.Ladder * 2 / 5
	if lan := c.lanCandidate(peer); lan.IsValid() {
		if ch, err := c.tryDial(ctx, peer, lan, protocol.MethodLAN, dialBudget); ch != nil || errors.Is(err, errOtherPathWon) {
			return ch, err
		}
	}
	ch, err := c.tryDial(ctx, peer, ep, protocol.MethodDirect, dialBudget)
	if ch != nil || errors.Is(err, errOtherPathWon) {
		return ch, err
	}
	if c.existing(peer) != nil {
		return c.existing(peer), nil
	}
	if !c.canPunch(peer) {
		return nil, err
	}
	if ch, perr := c.punch(ctx, peer); ch != nil {
		return ch, nil
	} else if perr != nil {
		err = perr
	}
	if ch := c.existing(peer); ch != nil {
		return ch, nil
	}
	return nil, errors.Join(errNoChannel, err)
}

// tryDial is one plain TCP attempt of the ladder, logged as such.
func (c *Client) tryDial(ctx context.Context, peer string, ep netip.AddrPort, method string, budget time.Duration) (*channel, error) {
	c.logTry(peer, ep, method)
	ch, err := c.dialMethod(ctx, peer, ep, method, budget)
	if err != nil && !errors.Is(err, errOtherPathWon) {
		c.logTryFailed(peer, ep, method, shortErr(err))
	}
	return ch, err
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
