package client

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
)

// maxContent bounds a chat message's content so its frame stays far below
// protocol.MaxFrameLen.
const maxContent = 512 << 10

// ErrNoPath is returned when a message or file has no way out: no channel
// to the peer and no server connection.
var ErrNoPath = errors.New("no channel to the peer and not connected to the server")

// ErrLoggedOut is returned by sends and connects after a logout.
var ErrLoggedOut = errors.New("logged out")

// ErrStopping is returned by a send the stopping client cannot start.
var ErrStopping = errors.New("stopping")

// pendingChat is a sent message waiting for its ChatAck.
type pendingChat struct {
	msg     protocol.Chat
	ch      *channel // the channel it was last sent over, or nil
	relay   *link    // the server link it was last sent over, or nil
	waiting bool     // to be sent through the server once logged in again
	seq     int64    // send order
}

// SendChat sends content to the user to: over the P2P channel if one
// exists, else through the server. It returns the messageID and the path
// ("p2p" or "relay"). Delivery is confirmed by a chat_acked event, refusal
// by chat_failed.
func (c *Client) SendChat(to, content string) (string, string, error) {
	if !protocol.ValidUserID(to) {
		return "", "", fmt.Errorf("to: %q is not a valid user ID", to)
	}
	if to == c.cfg.UserID {
		return "", "", fmt.Errorf("to: cannot send to yourself")
	}
	if len(content) > maxContent {
		return "", "", fmt.Errorf("content: %d bytes exceeds %d", len(content), maxContent)
	}
	c.mu.Lock()
	if c.loggedOut {
		c.mu.Unlock()
		return "", "", ErrLoggedOut
	}
	c.nextMsg++
	m := protocol.Chat{
		MessageID:  fmt.Sprintf("%s-%s-%d", c.cfg.UserID, c.token, c.nextMsg),
		UserID:     c.cfg.UserID,
		UserName:   c.cfg.UserName,
		DestUserID: to,
		Content:    content,
		SendTime:   time.Now().UTC().Format(time.RFC3339Nano),
	}
	// docs/protocol.md 2.5: a receiver that never acknowledges cannot make
	// us hold unbounded unacknowledged messages; the send is refused,
	// saying why, and nothing already sent is dropped.
	if why := c.pendingRoomLocked(to, len(content)); why != "" {
		c.mu.Unlock()
		c.boundHit(limitPending, why)
		return "", "", fmt.Errorf("%w: %s", ErrLimit, why)
	}
	p := &pendingChat{msg: m, seq: c.nextMsg}
	via, err := c.sendPendingLocked(p, true)
	if err != nil {
		c.mu.Unlock()
		if errors.Is(err, ErrLimit) {
			c.boundHit(limitQueue, err.Error())
		}
		return "", "", err
	}
	c.addPendingLocked(p)
	c.mu.Unlock()
	c.emit(api.Event{Type: api.EventChatSent, To: to, MessageID: m.MessageID, Content: content, Via: via})
	return m.MessageID, via, nil
}

// sendPendingLocked sends p over the channel to its peer (if p2pOK and one
// exists) or through the server, and logs the path. A full outbound queue
// on the channel sends it through the server; on both (or on the only
// path) the send fails with ErrLimit. c.mu is held.
func (c *Client) sendPendingLocked(p *pendingChat, p2pOK bool) (string, error) {
	full := false
	if ch := c.chans[p.msg.DestUserID]; p2pOK && ch != nil && !ch.l.closed() {
		err := ch.l.send(protocol.MustFrame(protocol.TypeClientChatMessage, p.msg))
		if err == nil {
			p.ch, p.relay, p.waiting = ch, nil, false
			c.logEntry(protocol.LogEntry{Kind: protocol.LogSendP2P, Me: c.cfg.UserID})
			return api.ViaP2P, nil
		}
		full = errors.Is(err, errQueueFull)
	}
	if c.srv != nil && !c.srv.closed() {
		err := c.srv.send(protocol.MustFrame(protocol.TypeChatMessage, p.msg))
		if err == nil {
			p.ch, p.relay, p.waiting = nil, c.srv, false
			c.logEntry(protocol.LogEntry{Kind: protocol.LogForwarding})
			return api.ViaRelay, nil
		}
		full = full || errors.Is(err, errQueueFull)
	}
	if full {
		return "", fmt.Errorf("%w: outbound queue full (%d frames)", ErrLimit, linkQueue)
	}
	return "", ErrNoPath
}

// resendFrom re-sends, through the server, every message still
// unacknowledged that was sent over the dead channel ch. Without a server
// connection they wait for the next login (or go over a newer channel).
func (c *Client) resendFrom(ch *channel) {
	var resent []api.Event
	c.mu.Lock()
	for _, id := range c.pendingIDsLocked() {
		p := c.pending[id]
		if p.ch != ch {
			continue
		}
		p.ch = nil
		// through the server first (docs/protocol.md 6.6); a newer channel only
		// when the server is unreachable.
		p2pOK := c.srv == nil
		via, err := c.sendPendingLocked(p, p2pOK)
		if err != nil {
			p.waiting = true
			continue
		}
		resent = append(resent, api.Event{Type: api.EventChatResent, To: p.msg.DestUserID, MessageID: id, Via: via})
	}
	c.mu.Unlock()
	for _, e := range resent {
		c.emit(e)
	}
}

// resendWaiting sends the messages that waited for a server connection.
func (c *Client) resendWaiting() {
	var resent []api.Event
	c.mu.Lock()
	for _, id := range c.pendingIDsLocked() {
		p := c.pending[id]
		if !p.waiting {
			continue
		}
		via, err := c.sendPendingLocked(p, false)
		if err != nil {
			continue
		}
		resent = append(resent, api.Event{Type: api.EventChatResent, To: p.msg.DestUserID, MessageID: id, Via: via})
	}
	c.mu.Unlock()
	for _, e := range resent {
		c.emit(e)
	}
}

// pendingIDsLocked returns the pending messageIDs in send order.
func (c *Client) pendingIDsLocked() []string {
	ids := make([]string, 0, len(c.pending))
	for id := range c.pending {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		return c.pending[ids[i]].seq < c.pending[ids[j]].seq
	})
	return ids
}

// receiveChat handles a chat message that came by via (over link): it
// always answers ChatAck over the same path, and reports the message once.
func (c *Client) receiveChat(m protocol.Chat, via string, l *link) {
	if m.MessageID == "" || !protocol.ValidUserID(m.UserID) {
		return
	}
	key := m.UserID + "\x00" + m.MessageID
	c.mu.Lock()
	dup := c.rememberLocked(key)
	forgot := c.seenForgot
	c.seenForgot = false
	c.mu.Unlock()
	if forgot {
		c.boundHit(limitSeen, fmt.Sprintf("duplicate filter full (%d): the oldest half forgotten", maxSeen))
	}
	ack := protocol.MustFrame(protocol.TypeChatAck, protocol.ChatAck{MessageID: m.MessageID, UserID: c.cfg.UserID, DestUserID: m.UserID})
	_ = l.reply(ack)
	if dup {
		c.log.Debug("duplicate message dropped", "from", m.UserID, "messageID", m.MessageID, "via", via)
		return
	}
	c.emit(api.Event{Type: api.EventChatReceived, From: m.UserID, MessageID: m.MessageID, Content: m.Content, Via: via})
}

// onAck handles a ChatAck: the message is delivered.
func (c *Client) onAck(a protocol.ChatAck, via string) {
	c.mu.Lock()
	p := c.pending[a.MessageID]
	// Only the message's receiver acknowledges it (docs/protocol.md 9.4):
	// relayed acks name it (the server enforces the sender), channel
	// acks are the channel peer's.
	if p == nil || a.UserID != p.msg.DestUserID {
		c.mu.Unlock()
		return
	}
	c.dropPendingLocked(a.MessageID)
	c.mu.Unlock()
	c.emit(api.Event{Type: api.EventChatAcked, To: p.msg.DestUserID, MessageID: a.MessageID, Via: via})
}

// chatFailed reports a message the server refused.
func (c *Client) chatFailed(id, reason string) {
	c.mu.Lock()
	p := c.dropPendingLocked(id)
	c.mu.Unlock()
	if p == nil {
		return
	}
	c.emit(api.Event{Type: api.EventChatFailed, To: p.msg.DestUserID, MessageID: id, Reason: reason, Via: api.ViaRelay})
}
