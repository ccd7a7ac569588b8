package defective

import (
	"encoding/json"
	"regexp"
	"sync"
	"time"

	"github.com/p2plab/p2plab/protocol"
)

// Server defects that make every server MUST requirement fail on at least
// one defective server (the self-test's coverage, docs/conformance.md).
// Each breaks one rule as narrowly as a proxy can.
const (
	// RefuseLongID refuses a Login whose userID has 64 characters (the
	// maximum, docs/protocol.md 2.5) with bad_user_id.
	RefuseLongID ServerDefect = "refuse-long-id"
	// RefuseMaxFrame refuses a frame of exactly the maximum length
	// (1,048,576 bytes, 2.1) with bad_frame.
	RefuseMaxFrame ServerDefect = "refuse-max-frame"
	// RejectUnknownFields refuses a frame with an unknown top-level member
	// with bad_frame instead of ignoring it (2.2).
	RejectUnknownFields ServerDefect = "reject-unknown-fields"
	// AcceptSecondLogin answers a second Login on a logged-in connection
	// with LoginResult ok:true instead of already_online (5.1).
	AcceptSecondLogin ServerDefect = "accept-second-login"
	// KeepRefused leaves the connection open after refusing a Login
	// (bad_user_id, already_online) or a frame before the Login
	// (not_logged_in), which close it (5.1).
	KeepRefused ServerDefect = "keep-refused"
	// KeepIdle leaves open a connection that never sent a byte, which the
	// server closes after the liveness period (5.1).
	KeepIdle ServerDefect = "keep-idle"
	// WrongLoginRe answers a Login with a LoginResult whose re is not the
	// Login's id (5.1).
	WrongLoginRe ServerDefect = "wrong-login-re"
	// WrongSelfEndpoint lists the requester in its own ResP2pInfo at a wrong
	// port (5.3: at its observed endpoint).
	WrongSelfEndpoint ServerDefect = "wrong-self-endpoint"
	// ListLoggedOut keeps listing, in ResP2pInfo, users who logged out
	// (5.3).
	ListLoggedOut ServerDefect = "list-logged-out"
	// DropRelayedAck never delivers a relayed ChatAck (5.4).
	DropRelayedAck ServerDefect = "drop-relayed-ack"
	// DropFileChunk never delivers a relayed FileChunk (5.4).
	DropFileChunk ServerDefect = "drop-file-chunk"
	// NumberRelayed delivers a relayed ChatMessage with an id (5.4: no id
	// or re).
	NumberRelayed ServerDefect = "number-relayed"
	// ReorderChats delivers two ChatMessages that follow each other to one
	// connection in the reverse order (5.4); a lone one waits
	// reorderWait.
	ReorderChats ServerDefect = "reorder-chats"
	// IgnoreSenderCase looks for the sender only in the member spelled
	// userID, not in its case variants (5.5): it renames them.
	IgnoreSenderCase ServerDefect = "ignore-sender-case"
	// NoSenderInsert delivers a relayed frame that omitted userID without
	// one (5.5).
	NoSenderInsert ServerDefect = "no-sender-insert"
	// NoServerHeartbeat never sends the server's own Heartbeats (5.8).
	NoServerHeartbeat ServerDefect = "no-server-heartbeat"
	// DropHeartbeatAck leaves every third numbered Heartbeat in a row (with
	// no other client frame between) unanswered, as a server that
	// rate-limits heartbeats might (5.8).
	DropHeartbeatAck ServerDefect = "drop-heartbeat-ack"
	// KeepAfterLogout leaves the connection open after a Logout (5.11).
	KeepAfterLogout ServerDefect = "keep-after-logout"
	// StripMisses leaves misses out of a v1.1 LoginResult (9.1).
	StripMisses ServerDefect = "strip-misses"
)

// reorderWait is how long reorder-chats holds a ChatMessage for the next.
const reorderWait = 300 * time.Millisecond

func init() {
	ServerDefects = append(ServerDefects, RefuseLongID, RefuseMaxFrame, RejectUnknownFields, AcceptSecondLogin, KeepRefused, KeepIdle, WrongLoginRe,
		WrongSelfEndpoint, ListLoggedOut, DropRelayedAck, DropFileChunk, NumberRelayed, ReorderChats, IgnoreSenderCase, NoSenderInsert,
		NoServerHeartbeat, DropHeartbeatAck, KeepAfterLogout, StripMisses)
}

// serverCover is the proxy-wide state of the defects of this file.
type serverCover struct {
	gone     sync.Map // list-logged-out: userID -> protocol.UserInfo
	unsigned sync.Map // no-sender-insert: messageID/transferID sent without userID
}

// coverPair is the per-connection state of the defects of this file.
type coverPair struct {
	loggedOut bool            // the client sent Logout
	beats     int             // drop-heartbeat-ack: numbered Heartbeats in a row
	held      *protocol.Frame // reorder-chats: a ChatMessage waiting
	timer     *time.Timer     // reorder-chats: flushes held
}

// coverInPlace reports whether the defect looks at whole client frames
// (through intercept).
func (p *ServerProxy) coverInPlace() bool {
	switch p.defect {
	case RefuseLongID, RefuseMaxFrame, RejectUnknownFields, AcceptSecondLogin, KeepAfterLogout, KeepIdle, ListLoggedOut, IgnoreSenderCase, NoSenderInsert,
		WrongSelfEndpoint, DropHeartbeatAck:
		return true
	}
	return false
}

var (
	caseUserID   = regexp.MustCompile(`"([uU][sS][eE][rR][iI][dD])"\s*:`)
	frameMembers = map[string]bool{"type": true, "id": true, "re": true, "body": true}
)

// coverIntercept applies the defect to one whole client payload, as
// intercept does; ok false: the defect leaves the payload alone.
func (p *ServerProxy) coverIntercept(pr *pair, f protocol.Frame, ferr error, payload []byte) (out []byte, answer *protocol.Frame, cut, ok bool) {
	if ferr == nil && f.Type == protocol.TypeLogout {
		pr.mu.Lock()
		pr.cover.loggedOut = true
		user := pr.user
		pr.mu.Unlock()
		if user != "" {
			c := addrOf(pr.client.RemoteAddr())
			p.cover.gone.Store(user, protocol.UserInfo{UserID: user, IP: c.Addr().String(), Port: int(c.Port())})
		}
	}
	reply := func(t string, v any, re int64) *protocol.Frame {
		g := protocol.MustFrame(t, v).WithRe(re)
		return &g
	}
	if len(payload) < 24 {
		return nil, nil, false, false
	}
	switch p.defect {
	case RefuseLongID:
		if ferr == nil && f.Type == protocol.TypeLogin {
			var l protocol.Login
			if json.Unmarshal(f.Body, &l) == nil && len(l.UserID) == 64 {
				return neutral(len(payload)), reply(protocol.TypeError, protocol.Error{Code: protocol.CodeBadUserID, Message: "defective: 64 characters are too many"}, f.ID), true, true
			}
		}
	case RefuseMaxFrame:
		if len(payload) == protocol.MaxFrameLen {
			return neutral(len(payload)), reply(protocol.TypeError, protocol.Error{Code: protocol.CodeBadFrame, Message: "defective: frame too long"}, f.ID), true, true
		}
	case RejectUnknownFields:
		var m map[string]json.RawMessage
		if json.Unmarshal(payload, &m) == nil {
			for k := range m {
				if !frameMembers[k] {
					return neutral(len(payload)), reply(protocol.TypeError, protocol.Error{Code: protocol.CodeBadFrame, Message: "defective: unknown member " + k}, f.ID), true, true
				}
			}
		}
	case DropHeartbeatAck:
		pr.mu.Lock()
		beats := 0
		if ferr == nil && f.Type == protocol.TypeHeartbeat && f.ID != 0 {
			pr.cover.beats++
			beats = pr.cover.beats
		} else {
			pr.cover.beats = 0
		}
		pr.mu.Unlock()
		if beats > 0 && beats%3 == 0 {
			return neutral(len(payload)), nil, false, true
		}
	case AcceptSecondLogin:
		pr.mu.Lock()
		in := pr.loggedIn
		pr.mu.Unlock()
		if ferr == nil && f.Type == protocol.TypeLogin && in {
			return neutral(len(payload)), reply(protocol.TypeLoginResult, protocol.LoginResult{OK: true}, f.ID), false, true
		}
	case IgnoreSenderCase:
		if ferr == nil && protocol.Relayable(f.Type) {
			out := append([]byte(nil), payload...)
			for _, m := range caseUserID.FindAllSubmatchIndex(out, -1) {
				if string(out[m[2]:m[3]]) != "userID" {
					out[m[2]] = 'x' // no longer a case variant of userID
				}
			}
			return out, nil, false, true
		}
	case NoSenderInsert:
		if ferr == nil && protocol.Relayable(f.Type) {
			var m map[string]json.RawMessage
			if json.Unmarshal(f.Body, &m) == nil {
				// chat() in the checker writes an empty userID: the same as
				// none to the reference server.
				if u, has := m["userID"]; !has || string(u) == `""` {
					r := relayMembers(f.Body)
					p.cover.unsigned.Store(r.MessageID+"/"+r.TransferID, true)
				}
			}
		}
	}
	return nil, nil, false, false
}

// coverToClient applies the defect to a frame from the real server, just
// before it is written: the frames to write instead (none: drop it).
func (p *ServerProxy) coverToClient(pr *pair, f protocol.Frame) []protocol.Frame {
	one := []protocol.Frame{f}
	switch p.defect {
	case KeepRefused:
		if f.Type == protocol.TypeLoginResult {
			var lr protocol.LoginResult
			if json.Unmarshal(f.Body, &lr) == nil && !lr.OK {
				pr.mu.Lock()
				pr.lastError = lr.Error
				pr.mu.Unlock()
			}
		}
	case WrongLoginRe:
		if f.Type == protocol.TypeLoginResult && f.Re != 0 {
			f.Re++
			return []protocol.Frame{f}
		}
	case WrongSelfEndpoint, ListLoggedOut:
		if f.Type != protocol.TypeResP2pInfo {
			return one
		}
		var b protocol.ResP2pInfo
		if json.Unmarshal(f.Body, &b) != nil {
			return one
		}
		pr.mu.Lock()
		user := pr.user
		pr.mu.Unlock()
		var users []protocol.UserInfo
		listed := map[string]bool{}
		for _, u := range b.Users {
			listed[u.UserID] = true
			if p.defect == WrongSelfEndpoint && u.UserID == user {
				u.Port = u.Port%65535 + 1
			}
			users = append(users, u)
		}
		if p.defect == ListLoggedOut {
			p.cover.gone.Range(func(k, v any) bool {
				if !listed[k.(string)] {
					users = append(users, v.(protocol.UserInfo))
				}
				return true
			})
		}
		if users == nil {
			users = []protocol.UserInfo{}
		}
		b.Users = users
		f.Body, _ = json.Marshal(b)
		return []protocol.Frame{f}
	case DropRelayedAck:
		if f.Type == protocol.TypeChatAck {
			return nil
		}
	case DropFileChunk:
		if f.Type == protocol.TypeFileChunk {
			return nil
		}
	case NumberRelayed:
		if f.Type == protocol.TypeChatMessage {
			f.ID = 7777
			return []protocol.Frame{f}
		}
	case ReorderChats:
		if f.Type == protocol.TypeChatMessage {
			return p.reorder(pr, f)
		}
	case NoSenderInsert:
		if protocol.Relayable(f.Type) {
			r := relayMembers(f.Body)
			if _, ok := p.cover.unsigned.Load(r.MessageID + "/" + r.TransferID); ok {
				var m map[string]json.RawMessage
				if json.Unmarshal(f.Body, &m) == nil {
					delete(m, "userID")
					f.Body, _ = json.Marshal(m)
					return []protocol.Frame{f}
				}
			}
		}
	case NoServerHeartbeat:
		if f.Type == protocol.TypeHeartbeat {
			return nil
		}
	case StripMisses:
		if f.Type == protocol.TypeLoginResult {
			var m map[string]json.RawMessage
			if json.Unmarshal(f.Body, &m) == nil {
				if _, ok := m["misses"]; ok {
					delete(m, "misses")
					f.Body, _ = json.Marshal(m)
					return []protocol.Frame{f}
				}
			}
		}
	}
	return one
}

// reorder (reorder-chats) holds a ChatMessage until the next one, then
// sends the two swapped; a lone one goes after reorderWait.
func (p *ServerProxy) reorder(pr *pair, f protocol.Frame) []protocol.Frame {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if h := pr.cover.held; h != nil {
		pr.cover.held = nil
		pr.cover.timer.Stop()
		return []protocol.Frame{f, *h}
	}
	pr.cover.held = &f
	pr.cover.timer = time.AfterFunc(reorderWait, func() {
		pr.mu.Lock()
		h := pr.cover.held
		if h != &f {
			pr.mu.Unlock()
			return
		}
		pr.cover.held = nil
		pr.mu.Unlock()
		pr.wmu.Lock()
		_ = protocol.WriteFrame(pr.client, *h)
		pr.wmu.Unlock()
	})
	return nil
}

// coverKeep reports whether the defect keeps the client's connection open
// once the real server closed its own.
func (p *ServerProxy) coverKeep(pr *pair) bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	switch p.defect {
	case KeepRefused:
		return pr.lastError == protocol.CodeNotLoggedIn || pr.lastError == protocol.CodeBadUserID || pr.lastError == protocol.CodeAlreadyOnline
	case KeepIdle:
		return !pr.started
	case KeepAfterLogout:
		return pr.cover.loggedOut
	}
	return false
}

// coverStop stops the connection's reorder timer.
func (pr *pair) coverStop() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.cover.timer != nil {
		pr.cover.timer.Stop()
	}
}
