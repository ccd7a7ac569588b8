package client

import (
	"fmt"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
)

// Bounds on what peers can make the client hold (docs/protocol.md 2.5,
// docs/control-api.md section 5). Hitting one is a documented refusal or
// drop, reported as a limit event, never a lost message: a refused
// transfer is answered FileResult ok=false naming the limit.
const (
	// maxHandshakes bounds the accepted connections that have not yet
	// finished SetupP2PMessage and the identity handshake.
	maxHandshakes = 128
	// maxRecvPerPeer and maxRecvTotal bound unfinished incoming transfers
	// (each holds a temporary file and its descriptor).
	maxRecvPerPeer = 8
	maxRecvTotal   = 64
	// maxSeen bounds the duplicate filter: the oldest (sender, messageID)
	// pairs are forgotten first.
	maxSeen = 100000
)

// recvRoomLocked returns why a new incoming transfer from `from` is
// refused, or "" when there is room. c.mu is held.
func (c *Client) recvRoomLocked(from string) string {
	if len(c.recvs) >= maxRecvTotal {
		return fmt.Sprintf("too many incoming transfers (%d)", maxRecvTotal)
	}
	n := 0
	for _, r := range c.recvs {
		if r.from == from {
			n++
		}
	}
	if n >= maxRecvPerPeer {
		return fmt.Sprintf("too many incoming transfers from %s (%d)", from, maxRecvPerPeer)
	}
	return ""
}

// boundHit reports a limit that refused or dropped something.
func (c *Client) boundHit(what string) {
	c.emit(api.Event{Type: api.EventLimit, Reason: what})
}

// recvAbortFrom fails the unfinished incoming transfers of a sender that
// went offline, relayed ones included: their temporary files and
// descriptors are released now, not at exit.
func (c *Client) recvAbortFrom(peer string) {
	c.mu.Lock()
	var rs []*fileRecv
	for _, r := range c.recvs {
		if r.from == peer {
			rs = append(rs, r)
		}
	}
	c.mu.Unlock()
	for _, r := range rs {
		r.mu.Lock()
		if !r.done {
			c.recvFail(r, protocol.ReasonPeerOffline, false)
		}
		r.mu.Unlock()
	}
}

// rememberLocked records a received (sender, messageID) key in the bounded
// duplicate filter and reports whether it was there. c.mu is held.
func (c *Client) rememberLocked(key string) bool {
	if _, dup := c.seen[key]; dup {
		return true
	}
	c.seen[key] = struct{}{}
	c.seenOrder = append(c.seenOrder, key)
	if len(c.seenOrder) > maxSeen {
		drop := len(c.seenOrder) - maxSeen/2
		for _, k := range c.seenOrder[:drop] {
			delete(c.seen, k)
		}
		c.seenOrder = append([]string(nil), c.seenOrder[drop:]...)
	}
	return false
}
