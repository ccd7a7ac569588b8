package server

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/p2plab/p2plab/protocol"
)

// handle acts on one well-formed frame of n payload bytes. It returns
// end=true when the connection must now be closed gracefully, with why.
func (c *conn) handle(f protocol.Frame, n int) (end bool, reason string) {
	if !c.loggedIn.Load() {
		if f.Type != protocol.TypeLogin {
			c.sendError(f.ID, protocol.Error{Code: protocol.CodeNotLoggedIn,
				Message: f.Type + " before Login: the first frame must be Login"})
			return true, "not logged in"
		}
		return c.login(f)
	}
	switch {
	case protocol.Relayable(f.Type):
		return c.relay(f, n)
	case protocol.PunchRelayable(f.Type) && c.s.has(protocol.FeaturePunch):
		return c.relayPunch(f)
	case f.Type == protocol.TypeHeartbeat:
		c.enqueue(encodeFrame(protocol.Frame{Type: protocol.TypeHeartbeatAck, Re: f.ID}))
	case f.Type == protocol.TypeHeartbeatAck, f.Type == protocol.TypeError:
		// Liveness only.
	case f.Type == protocol.TypeGetP2PInfo:
		c.enqueue(encodeFrame(protocol.MustFrame(protocol.TypeResP2pInfo, c.s.p2pInfo(c.p11.v11)).WithRe(f.ID)))
	case f.Type == protocol.TypeLogin:
		// Already logged in on this connection: refuse, keep the session.
		c.refuseLogin(f.ID, protocol.CodeAlreadyOnline, "this connection is already logged in as "+c.user)
	case f.Type == protocol.TypeLogout:
		return true, "logout"
	default:
		msg := "unknown message type " + f.Type
		if protocol.Known(f.Type) {
			msg = f.Type + " is not accepted by the server"
		}
		c.sendError(f.ID, protocol.Error{Code: protocol.CodeUnknownType, Message: msg})
		return true, "unknown type " + f.Type
	}
	return false, ""
}

// login handles the first frame, a Login.
func (c *conn) login(f protocol.Frame) (bool, string) {
	var userID string
	_ = protocol.EachMember(f.Body, func(m protocol.Member) error {
		if string(m.Key) == "userID" {
			userID, _ = m.String()
		}
		return nil
	})
	if err := c.login11(f.Body); err != nil {
		c.refuseLogin(f.ID, protocol.CodeBadFrame, "Login: "+err.Error())
		return true, "bad login: " + err.Error()
	}
	if !protocol.ValidUserID(userID) {
		c.refuseLogin(f.ID, protocol.CodeBadUserID, "userID must be 1-64 characters of A-Za-z0-9._-")
		return true, "bad user id"
	}
	if !c.s.register(c, userID, f.ID) {
		c.refuseLogin(f.ID, protocol.CodeAlreadyOnline, userID+" is already online")
		return true, "already online"
	}
	c.s.log.Info("login", "user", userID, "remote", c.remote)
	return false, ""
}

// refuseLogin answers a Login with LoginResult{ok:false} and an Error with
// the same code.
func (c *conn) refuseLogin(id int64, code, msg string) {
	c.enqueue(encodeFrame(protocol.MustFrame(protocol.TypeLoginResult, c.loginResult(protocol.LoginResult{OK: false, Error: code})).WithRe(id)))
	c.sendError(id, protocol.Error{Code: code, Message: msg})
}

// frameError is the *protocol.FrameError in err's chain or, for any other
// error, a bad_frame carrying its text: the caller always has a code to
// answer with.
func frameError(err error) *protocol.FrameError {
	if fe, ok := errors.AsType[*protocol.FrameError](err); ok {
		return fe
	}
	return &protocol.FrameError{Code: protocol.CodeBadFrame, Reason: err.Error()}
}

// relay forwards a relayable frame to its destination.
func (c *conn) relay(f protocol.Frame, n int) (bool, string) {
	r, body, err := protocol.RelayBody(f.Body, c.user)
	if err != nil {
		fe := frameError(err)
		c.sendError(f.ID, protocol.Error{Code: fe.Code, Message: f.Type + ": " + fe.Reason,
			MessageID: r.MessageID, TransferID: r.TransferID})
		if fe.Code == protocol.CodeBadFrame {
			c.s.m.badFrames.Add(1)
			return true, "bad frame: " + fe.Reason
		}
		c.s.m.forbidden.Add(1)
		return false, ""
	}
	out := encodeRaw(f.Type, body)
	if len(out)-4 > protocol.MaxFrameLen {
		// Only possible when inserting the sender's userID pushed a frame
		// of nearly the maximum size over it. Not malformed: refuse it and
		// keep the connection.
		c.sendError(f.ID, protocol.Error{Code: protocol.CodeBadFrame,
			Message:   f.Type + ": too large to forward once userID is added; include \"userID\"",
			MessageID: r.MessageID, TransferID: r.TransferID})
		return false, ""
	}
	s := c.s
	// docs/protocol.md 5.10: a sender past its share of the destination's
	// queue waits (its own reader only) until the destination's writer
	// takes the queue: a flood is slowed to the pace its destination
	// reads at. A destination whose socket write stays blocked for a
	// heartbeat interval meanwhile (or that takes nothing for the read
	// timeout) is a slow consumer: it is cut, and the frame refused with
	// user_offline.
	for throttled := false; ; {
		ok, d, full := c.relayOnce(r.DestUserID, out, n)
		if ok {
			s.m.relayed.Add(1)
			return false, ""
		}
		if full == nil {
			s.m.userOffline.Add(1)
			c.refuse(f.ID, protocol.Error{Code: protocol.CodeUserOffline, Message: r.DestUserID + " is not online",
				MessageID: r.MessageID, TransferID: r.TransferID})
			return false, ""
		}
		if !throttled {
			throttled = true
			s.m.relayThrottled.Add(1)
		}
		if !c.waitDrained(d, full) {
			return false, ""
		}
	}
}

// waitDrained waits until full (d's drained channel) closes, or cuts d as
// a slow consumer (5.10) when its writer is stuck: a socket write blocked
// for a heartbeat interval, or nothing taken for the read timeout. It
// returns false if this connection was cut meanwhile.
func (c *conn) waitDrained(d *conn, full <-chan struct{}) bool {
	stall := c.s.cfg.Heartbeat
	deadline := time.Now().Add(c.s.cfg.ReadTimeout)
	for {
		wait := min(time.Until(deadline), stall)
		if since := d.writeSince.Load(); since != 0 {
			wait = min(wait, stall-time.Since(time.Unix(0, since)))
		}
		if wait <= 0 {
			d.stuck(full)
			return !c.killed.Load()
		}
		t := time.NewTimer(wait)
		select {
		case <-full:
			t.Stop()
			return !c.killed.Load()
		case <-t.C:
		}
	}
}

// relayOnce queues out (n payload bytes) for dest, counting it. It returns
// ok, or the destination and its drained channel when the frame is past
// the sender's share (5.10), or neither when dest is not online.
func (c *conn) relayOnce(dest string, out []byte, n int) (bool, *conn, <-chan struct{}) {
	s := c.s
	now := time.Now().UnixNano()
	s.mu.RLock()
	defer s.mu.RUnlock()
	d := s.online[dest]
	if d == nil {
		return false, nil, nil
	}
	// Count before queueing, so that whoever sees the frame arrive also
	// sees it counted; undo if the destination refuses it.
	c.us.uploads.Add(1)
	c.us.relayedBytes.Add(int64(n))
	d.us.downloads.Add(1)
	oldUp := c.us.lastUpload.Swap(now)
	oldDown := d.us.lastDownload.Swap(now)
	ok, full := d.enqueueFrom(out, c)
	if !ok {
		c.us.uploads.Add(-1)
		c.us.relayedBytes.Add(-int64(n))
		d.us.downloads.Add(-1)
		c.us.lastUpload.CompareAndSwap(now, oldUp)
		d.us.lastDownload.CompareAndSwap(now, oldDown)
	}
	return ok, d, full
}

func (c *conn) sendError(re int64, e protocol.Error) {
	c.s.m.errorsSent.Add(1)
	c.enqueue(encodeError(re, e))
}

// refuse sends the Error refusing one of c's relayed frames. The refusals
// count as c's own share of its queue (5.10): a sender whose frames are
// refused faster than it reads the refusals (a flood at a user just cut)
// is read no further until its writer takes its queue, rather than cut for
// not reading them; one whose socket write does not move for a heartbeat
// interval is cut as a slow consumer.
func (c *conn) refuse(re int64, e protocol.Error) {
	c.s.m.errorsSent.Add(1)
	b := encodeError(re, e)
	for {
		ok, full := c.enqueueFrom(b, c)
		if ok || full == nil || !c.waitDrained(c, full) {
			return
		}
	}
}

// register logs c in as userID unless that user is online; it queues the
// LoginResult for c and the online notice for everyone else, under the
// registry lock so that every user sees state changes in one order.
func (s *Server) register(c *conn, userID string, re int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.online[userID] != nil || s.closed {
		return false
	}
	us := s.users[userID]
	if us == nil {
		us = &userStats{}
		s.users[userID] = us
	}
	c.user, c.us = userID, us
	s.online[userID] = c
	c.loggedIn.Store(true)
	c.loginDone()
	ep := protocol.EndpointOf(c.remote)
	c.enqueue(encodeFrame(protocol.MustFrame(protocol.TypeLoginResult, c.loginResult(protocol.LoginResult{OK: true, Observed: &ep})).WithRe(re)))
	s.broadcast(c, protocol.UserStateNotify{UserID: userID, OnLine: true, IP: ep.IP, Port: ep.Port})
	s.m.logins.Add(1)
	return true
}

// unregister takes c's user offline (if c is its session) and tells every
// other online user.
func (s *Server) unregister(c *conn, reason string) {
	if !c.loggedIn.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.online[c.user] != c {
		return
	}
	delete(s.online, c.user)
	c.us.offlineAt = time.Now().UnixNano()
	s.forgetOffline()
	s.broadcast(c, protocol.UserStateNotify{UserID: c.user, OnLine: false})
	s.log.Info("offline", "user", c.user, "remote", c.remote, "reason", reason)
}

// forgetOffline drops the users offline longest while more than
// Config.MaxOffline offline users are remembered (docs/protocol.md 8.2):
// their counters leave /v1/stats and /metrics, and a later login starts
// them from zero. s.mu is held.
func (s *Server) forgetOffline() {
	for len(s.users)-len(s.online) > s.cfg.MaxOffline {
		oldest, at := "", int64(0)
		for id, u := range s.users {
			if s.online[id] == nil && (oldest == "" || u.offlineAt < at) {
				oldest, at = id, u.offlineAt
			}
		}
		if oldest == "" {
			return
		}
		delete(s.users, oldest)
		s.m.forgotten.Add(1)
	}
}

// broadcast queues a notice for every online user but from; v1.1 clients
// get an online notice with from's v1.1 members (docs/protocol.md 9.1).
// s.mu is held.
func (s *Server) broadcast(from *conn, n protocol.UserStateNotify) {
	b := encodeFrame(protocol.MustFrame(protocol.TypeUserStateNotify, n))
	b11 := b
	if n.OnLine && from.p11.v11 {
		n.Peer11 = from.p11.info()
		b11 = encodeFrame(protocol.MustFrame(protocol.TypeUserStateNotify, n))
	}
	for _, o := range s.online {
		if o == from {
			continue
		}
		if o.p11.v11 {
			o.enqueue(b11)
		} else {
			o.enqueue(b)
		}
	}
}

// p2pInfo lists the online users, sorted by userID; with v11, each entry
// carries its v1.1 members (docs/protocol.md 9.1).
func (s *Server) p2pInfo(v11 bool) protocol.ResP2pInfo {
	s.mu.RLock()
	users := make([]protocol.UserInfo, 0, len(s.online))
	for id, c := range s.online {
		ep := protocol.EndpointOf(c.remote)
		u := protocol.UserInfo{UserID: id, IP: ep.IP, Port: ep.Port}
		if v11 {
			u.Peer11 = c.p11.info()
		}
		users = append(users, u)
	}
	s.mu.RUnlock()
	slices.SortFunc(users, func(a, b protocol.UserInfo) int { return strings.Compare(a.UserID, b.UserID) })
	return protocol.ResP2pInfo{Users: users}
}

// encodeFrame encodes a frame the server built itself.
func encodeFrame(f protocol.Frame) []byte {
	b, err := protocol.Marshal(f)
	if err != nil {
		panic("server: encode " + f.Type + ": " + err.Error()) // our own bodies always encode
	}
	return b
}

func encodeError(re int64, e protocol.Error) []byte {
	return encodeFrame(protocol.MustFrame(protocol.TypeError, e).WithRe(re))
}

// encodeRaw builds a frame {"type":typ,"body":body} from a known type name
// and an already valid JSON body, without re-encoding the body.
func encodeRaw(typ string, body json.RawMessage) []byte {
	out := make([]byte, 4, 4+len(body)+len(typ)+20)
	out = append(out, `{"type":"`...)
	out = append(out, typ...)
	out = append(out, `","body":`...)
	out = append(out, body...)
	out = append(out, '}')
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}
