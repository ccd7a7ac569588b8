package client

import (
	"errors"
	"fmt"
	"maps"

	"sync"

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
	// maxPendingPerPeer, maxPendingTotal and maxPendingBytes bound the
	// sent messages still waiting for their ChatAck (a receiver that
	// never acknowledges would otherwise make us keep them all): a send
	// past them is refused with ErrLimit, nothing already sent is
	// dropped.
	maxPendingPerPeer = 1000
	maxPendingTotal   = 10000
	maxPendingBytes   = 64 << 20
)

// Bounds that tests lower (export_test.go); the program never changes them.
var (
	// maxSeen bounds the duplicate filter: the oldest (sender, messageID)
	// pairs are forgotten first.
	maxSeen = 100000
	// maxChannels bounds the channel table: a channel accepted past it
	// is closed at once (a version 1 client takes channels from any
	// userID, docs/protocol.md 9.2).
	maxChannels = 1024
)

// Limit names: the keys of api.Status.Limits, which counts the times each
// bound was hit (docs/protocol.md 2.5).
const (
	limitHandshakes = "handshakes"
	limitTransfers  = "transfers"
	limitPending    = "pending"
	limitChannels   = "channels"
	limitSeen       = "seen"
	limitLog        = "log"
	limitQueue      = "queue"
)

// ErrLimit is returned by a send that a bound of docs/protocol.md 2.5
// refuses (too many unacknowledged messages, a full outbound queue); its
// text says which.
var ErrLimit = errors.New("limit")

// limitCounts counts bound hits by limit name.
type limitCounts struct {
	mu sync.Mutex
	n  map[string]int64
}

func (lc *limitCounts) add(name string) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.n == nil {
		lc.n = map[string]int64{}
	}
	lc.n[name]++
}

// snapshot returns a copy of the counts (nil when nothing was hit).
func (lc *limitCounts) snapshot() map[string]int64 {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if len(lc.n) == 0 {
		return nil
	}
	return maps.Clone(lc.n)
}

// pendingRoomLocked returns why one more unacknowledged message of size
// bytes to `to` is refused, or "" when there is room. c.mu is held.
func (c *Client) pendingRoomLocked(to string, size int) string {
	if len(c.pending) >= maxPendingTotal {
		return fmt.Sprintf("too many unacknowledged messages (%d)", maxPendingTotal)
	}
	if c.pendingBytes+size > maxPendingBytes {
		return fmt.Sprintf("unacknowledged messages hold more than %d bytes", maxPendingBytes)
	}
	if c.pendingTo[to] >= maxPendingPerPeer {
		return fmt.Sprintf("too many unacknowledged messages to %s (%d)", to, maxPendingPerPeer)
	}
	return ""
}

// addPendingLocked and dropPendingLocked keep the pending table and its
// per-peer and byte counts together. c.mu is held.
func (c *Client) addPendingLocked(p *pendingChat) {
	c.pending[p.msg.MessageID] = p
	c.pendingTo[p.msg.DestUserID]++
	c.pendingBytes += len(p.msg.Content)
}

func (c *Client) dropPendingLocked(id string) *pendingChat {
	p := c.pending[id]
	if p == nil {
		return nil
	}
	delete(c.pending, id)
	if c.pendingTo[p.msg.DestUserID]--; c.pendingTo[p.msg.DestUserID] <= 0 {
		delete(c.pendingTo, p.msg.DestUserID)
	}
	c.pendingBytes -= len(p.msg.Content)
	return p
}

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

// boundHit reports a limit (one of the limit names) that refused or
// dropped something: a limit event whose reason says what, and a count in
// api.Status.Limits.
func (c *Client) boundHit(name, what string) {
	c.limits.add(name)
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
		c.seenForgot = true
	}
	return false
}
