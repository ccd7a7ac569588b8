package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/internal/reuseport"
	"github.com/p2plab/p2plab/protocol"
)

// errOtherPathWon is a dial that failed because a crossing dial from the
// peer already holds the 4-tuple ("cannot assign requested address").
var errOtherPathWon = errors.New("client: the peer's crossing dial won")

// acceptLoop accepts P2P channels on ln until it is closed.
func (c *Client) acceptLoop(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			c.log.Warn("accept", "err", err)
			select {
			case <-time.After(50 * time.Millisecond):
			case <-c.runCtx.Done():
				return
			}
			continue
		}
		if !c.goTracked(func() { c.handleInbound(conn) }) {
			conn.Close()
			return
		}
	}
}

// handleInbound reads the first frame of an accepted connection, which must
// be SetupP2PMessage, and adds the channel.
func (c *Client) handleInbound(conn net.Conn) {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		conn.Close()
		return
	}
	if len(c.inbound) >= maxHandshakes {
		// docs/protocol.md 2.5: connections that have not finished their
		// handshake are bounded; the excess is closed at once.
		c.mu.Unlock()
		c.boundHit(limitHandshakes, fmt.Sprintf("handshakes: %d accepted connections still in their handshake", maxHandshakes))
		conn.Close()
		return
	}
	c.inbound[conn] = struct{}{}
	c.mu.Unlock()
	r := newReader(conn)
	l := newLink(conn, r, c.pulse, c.cfg.Misses)
	_ = conn.SetReadDeadline(time.Now().Add(l.deadTime()))
	f, err := r.ReadFrame()
	var s protocol.SetupP2P
	var method string
	switch {
	case err != nil:
		var fe *protocol.FrameError
		if errors.As(err, &fe) {
			l.writeError(fe.Code, fe.Reason, 0)
		}
	case f.Type != protocol.TypeSetupP2PMessage:
		l.writeError(protocol.CodeBadFrame, "the first frame on a P2P channel must be SetupP2PMessage", f.ID)
		err = errIdentity
	case f.DecodeBody(&s) != nil || !protocol.ValidUserID(s.UserID) || s.UserID == c.cfg.UserID:
		l.writeError(protocol.CodeBadUserID, "SetupP2PMessage: bad userID", f.ID)
		err = errIdentity
	default:
		// docs/protocol.md 9.4: the peer proves who it is first.
		method, err = c.acceptIdentity(conn, r, s)
		var rf *refusal
		if errors.As(err, &rf) {
			if rf.code != "" {
				l.writeError(rf.code, rf.reason, 0)
			}
			c.logEntry(protocol.LogEntry{Kind: protocol.LogRefused, Peer: s.UserID, Addr: addrPortOf(conn.RemoteAddr()), Reason: rf.reason})
		}
	}
	c.mu.Lock()
	delete(c.inbound, conn)
	c.mu.Unlock()
	if err != nil {
		conn.Close()
		return
	}
	ch := &channel{peer: s.UserID, initiator: s.UserID, local: addrPortOf(conn.LocalAddr()),
		remote: addrPortOf(conn.RemoteAddr()), openedAt: time.Now().UTC(), l: l,
		transport: protocol.TransportTCP, method: method}
	c.mu.Lock()
	full := len(c.chans) >= maxChannels && c.chans[ch.peer] == nil
	c.mu.Unlock()
	if full {
		// docs/protocol.md 2.5: the channel table is bounded; a channel
		// to a new peer past it is refused (the peer's chat goes through
		// the server).
		why := fmt.Sprintf("channels: the table holds %d channels", maxChannels)
		l.writeError(protocol.CodeForbidden, why, 0)
		c.logEntry(protocol.LogEntry{Kind: protocol.LogRefused, Peer: s.UserID, Addr: ch.remote, Reason: why})
		c.boundHit(limitChannels, why)
		conn.Close()
		return
	}
	c.logEntry(protocol.LogEntry{Kind: protocol.LogAccepted, Peer: ch.peer, Addr: ch.remote})
	c.addChannel(ch)
	c.serveChannel(ch)
}

// dialPeer opens a channel to peer at ep from the client's listen endpoint
// and sends SetupP2PMessage. It returns errOtherPathWon when the peer's
// crossing dial holds the 4-tuple: that channel arrives through accept.
func (c *Client) dialPeer(ctx context.Context, peer string, ep netip.AddrPort) (*channel, error) {
	return c.dialMethod(ctx, peer, ep, protocol.MethodDirect, c.cfg.DialTimeout)
}

// dialMethod is dialPeer for one attempt of the ladder (docs/protocol.md
// 9.7), bounded by timeout.
func (c *Client) dialMethod(ctx context.Context, peer string, ep netip.AddrPort, method string, timeout time.Duration) (*channel, error) {
	c.mu.Lock()
	local := c.listen
	out := c.loggedOut || c.stopped
	c.mu.Unlock()
	if out {
		return nil, errors.New("client: logged out")
	}
	c.logEntry(protocol.LogEntry{Kind: protocol.LogPrepare, Peer: peer, Addr: ep})
	d := net.Dialer{Control: reuseport.Control, Timeout: timeout, LocalAddr: net.TCPAddrFromAddrPort(local)}
	conn, err := d.DialContext(ctx, "tcp", ep.String())
	if err != nil {
		if isAddrNotAvail(err) {
			c.log.Debug("crossing dial won", "peer", peer)
			return nil, errOtherPathWon
		}
		c.logEntry(protocol.LogEntry{Kind: protocol.LogCreateFailed, Peer: peer, Addr: ep, Reason: shortErr(err)})
		return nil, err
	}
	ch, err := c.handshakeDialed(conn, peer, ep, method)
	if err != nil {
		return nil, err
	}
	return ch, c.startChannel(ch, ep)
}

// handshakeDialed proves identities on a connection this client opened
// (docs/protocol.md 9.4) and makes its channel. A failed handshake closes
// the connection and is logged as a failed create.
func (c *Client) handshakeDialed(conn net.Conn, peer string, ep netip.AddrPort, method string) (*channel, error) {
	r := newReader(conn)
	l := newLink(conn, r, c.pulse, c.cfg.Misses)
	l.lead = true
	_ = conn.SetReadDeadline(time.Now().Add(l.deadTime()))
	initiator, err := c.dialIdentity(conn, r, peer, method)
	if err != nil {
		conn.Close()
		c.logEntry(protocol.LogEntry{Kind: protocol.LogCreateFailed, Peer: peer, Addr: ep, Reason: shortErr(err)})
		return nil, err
	}
	transport := protocol.TransportTCP
	if _, ok := conn.(*net.TCPConn); !ok {
		transport = protocol.TransportUDP
	}
	return &channel{peer: peer, initiator: initiator, local: addrPortOf(conn.LocalAddr()),
		remote: addrPortOf(conn.RemoteAddr()), openedAt: time.Now().UTC(), l: l, dialed: true,
		transport: transport, method: method}, nil
}

// startChannel puts a dialled channel in the table and serves it.
func (c *Client) startChannel(ch *channel, ep netip.AddrPort) error {
	c.logEntry(protocol.LogEntry{Kind: protocol.LogCreated, Peer: ch.peer, Addr: ep})
	c.addChannel(ch)
	if !c.goTracked(func() { c.serveChannel(ch) }) {
		ch.l.close(protocol.ReasonLogout)
		return errors.New("client: stopping")
	}
	return nil
}

// dialAttempts bounds the dials meshDial makes to one peer.
const dialAttempts = 3

// meshDial opens the channel a newcomer owes an online user. A dial that
// timed out is made again, up to dialAttempts in all and one heartbeat
// interval (at least a second) apart, while the peer is still online at ep
// and no channel to it has appeared: on a loaded machine a SYN or an ARP
// reply can be lost, and a pair would otherwise stay on the relay for good.
// A refused dial is not repeated (the peer said no). Each attempt writes its
// own "prepare to create" and "created"/"create failed" lines.
func (c *Client) meshDial(ctx context.Context, peer string, ep netip.AddrPort) {
	pause := max(c.cfg.Heartbeat, time.Second)
	for attempt := 1; ; attempt++ {
		_, err := c.dialPeer(ctx, peer, ep)
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() || attempt == dialAttempts {
			return
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		c.mu.Lock()
		owed := c.users[peer] == ep && c.chans[peer] == nil && !c.loggedOut && !c.stopped
		c.mu.Unlock()
		if !owed {
			return
		}
	}
}

// addChannel puts ch in the table. An existing channel to the same peer is
// replaced (closed with "replaced"), except when the two were initiated by
// different sides: then the one initiated by the lexicographically smaller
// userID is kept and the other closed with "replaced", so both ends keep
// the same connection.
func (c *Client) addChannel(ch *channel) {
	c.mu.Lock()
	if c.loggedOut || c.stopped {
		c.mu.Unlock()
		c.emit(ch.openedEvent())
		ch.l.close(protocol.ReasonLogout)
		return
	}
	old := c.chans[ch.peer]
	winner := min(c.cfg.UserID, ch.peer)
	if old != nil && old.initiator != ch.initiator && old.initiator == winner && !old.l.closed() {
		c.mu.Unlock()
		c.emit(ch.openedEvent())
		ch.l.close(protocol.ReasonReplaced)
		return
	}
	c.chans[ch.peer] = ch
	c.mu.Unlock()
	c.emit(ch.openedEvent())
	if old != nil {
		old.l.close(protocol.ReasonReplaced)
	}
}

// serveChannel runs ch until it dies, then removes it.
func (c *Client) serveChannel(ch *channel) {
	reason := ch.l.run(func(f protocol.Frame) error { return c.onChannelFrame(ch, f) })
	c.channelClosed(ch, reason)
}

// onChannelFrame handles one frame from a P2P channel. An error closes the
// channel (and only it).
func (c *Client) onChannelFrame(ch *channel, f protocol.Frame) error {
	switch f.Type {
	case protocol.TypeClientChatMessage, protocol.TypeChatMessage:
		var m protocol.Chat
		if err := f.DecodeBody(&m); err != nil {
			return err
		}
		if m.UserID == "" {
			m.UserID = ch.peer
		}
		if m.UserID != ch.peer || (m.DestUserID != "" && m.DestUserID != c.cfg.UserID) {
			return &protocol.FrameError{Code: protocol.CodeForbidden, Reason: "chat message names another sender or receiver"}
		}
		if m.MessageID == "" {
			return &protocol.FrameError{Code: protocol.CodeBadFrame, Reason: "chat message without messageID"}
		}
		c.receiveChat(m, api.ViaP2P, ch.l)
	case protocol.TypeChatAck:
		var a protocol.ChatAck
		if err := f.DecodeBody(&a); err != nil {
			return err
		}
		// docs/protocol.md 9.4: an ack on a channel is the channel
		// peer's, whoever it names.
		if a.UserID == "" {
			a.UserID = ch.peer
		}
		if a.UserID == ch.peer {
			c.onAck(a, api.ViaP2P)
		}
	case protocol.TypeFileOffer, protocol.TypeFileChunk, protocol.TypeFileDone, protocol.TypeFileResult:
		return c.onFile(f, api.ViaP2P, ch.peer, ch.l, ch)
	case protocol.TypeSetupP2PMessage:
		// On a channel we dialed this is a TCP simultaneous open: both
		// sides dialed and got the same connection. Both record the
		// smaller userID as initiator, so they agree.
		var s protocol.SetupP2P
		if err := f.DecodeBody(&s); err != nil {
			return err
		}
		if s.UserID != ch.peer {
			return &protocol.FrameError{Code: protocol.CodeForbidden, Reason: "SetupP2PMessage names another user"}
		}
		c.mu.Lock()
		if ch.dialed {
			ch.initiator = min(c.cfg.UserID, ch.peer)
		}
		c.mu.Unlock()
	case protocol.TypeError:
		var e protocol.Error
		_ = f.DecodeBody(&e)
		c.log.Warn("peer error", "peer", ch.peer, "code", e.Code, "message", e.Message)
	default:
		if !protocol.Known(f.Type) {
			e := protocol.MustFrame(protocol.TypeError, protocol.Error{Code: protocol.CodeUnknownType, Message: f.Type})
			e.Re = f.ID
			_ = ch.l.reply(e)
		}
	}
	return nil
}

// channelClosed removes a dead channel, logs it, and re-sends its
// unacknowledged messages through the server.
func (c *Client) channelClosed(ch *channel, reason string) {
	if reason == "" {
		reason = protocol.ReasonConnectionLost
	}
	c.mu.Lock()
	if c.chans[ch.peer] == ch {
		delete(c.chans, ch.peer)
	}
	c.mu.Unlock()
	c.logEntry(protocol.LogEntry{Kind: protocol.LogClosed, Peer: ch.peer, Reason: reason})
	c.emit(api.Event{Type: api.EventChannelClosed, Peer: ch.peer, Reason: reason})
	c.recvAbort(ch)
	c.sendAbortLink(ch.l)
	c.resendFrom(ch)
}

// channels returns the channel table, sorted by peer.
func (c *Client) channelList() []api.Channel {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]api.Channel, 0, len(c.chans))
	for _, ch := range c.chans {
		out = append(out, ch.api())
	}
	sortChannels(out)
	return out
}
