package defective

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/p2plab/p2plab/protocol"
)

// Server defects of the strict checks (docs/protocol.md 1.2, 2.2, 2.4):
// each makes the proxy "repair" one kind of malformed client frame before
// the reference server sees it, so the pair accepts what a conforming
// server refuses. The repairs keep the payload's length, so the proxy can
// pass the length prefix on at once and a stalled frame still reaches the
// reference server as such (5.9).
const (
	// AcceptTrailing accepts bytes after the JSON object (2.4 case 2): it
	// blanks them out with spaces.
	AcceptTrailing ServerDefect = "accept-trailing"
	// AcceptFloatID accepts an id written with a fraction or an exponent
	// (2.2): "id":5.0 becomes "id":5 and padding.
	AcceptFloatID ServerDefect = "accept-float-id"
	// AcceptBadUTF8 accepts a payload that is not valid UTF-8 (2.4 case 2):
	// each invalid byte becomes '?'.
	AcceptBadUTF8 ServerDefect = "accept-bad-utf8"
	// FoldCase compares userIDs case-insensitively (against 1.2): it
	// lower-cases every userID and destUserID a client sends and gives the
	// clients back the spelling the first of them used.
	FoldCase ServerDefect = "fold-case"
	// CutAfterRefusal closes a connection right after sending it Error
	// user_offline, which leaves the connection open (4.2).
	CutAfterRefusal ServerDefect = "cut-after-refusal"
	// FirstDuplicate lets the first of duplicate "type" members count
	// (against 2.2): it renames the later ones to "tYpe".
	FirstDuplicate ServerDefect = "first-duplicate"
	// NullMalformed takes "body":null for a malformed body (against 2.2):
	// it turns the null into the string "nu".
	NullMalformed ServerDefect = "null-malformed"
	// DropUnnumberedAck drops the HeartbeatAck answering a Heartbeat that
	// had no id (3.8).
	DropUnnumberedAck ServerDefect = "drop-unnumbered-ack"
	// EmptyTypeUnknown takes "type":"" for an unknown type: Error
	// unknown_type instead of bad_frame (2.4 case 4).
	EmptyTypeUnknown ServerDefect = "empty-type-unknown"
	// UnknownBeforeLogin checks a first frame's type before the login:
	// an unknown type gets unknown_type, not not_logged_in (4.2).
	UnknownBeforeLogin ServerDefect = "unknown-before-login"
	// NoSelfRelay refuses a relay to the sender itself with user_offline
	// (5.4 rule 5).
	NoSelfRelay ServerDefect = "no-self-relay"
	// SelfNotify tells a newcomer of its own login (5.7: every *other*
	// user).
	SelfNotify ServerDefect = "self-notify"
	// BadFrameFatal closes the connection after every Error bad_frame,
	// also the one refusing a frame that only the inserted userID made too
	// large, which leaves the connection open (5.4 rule 6).
	BadFrameFatal ServerDefect = "bad-frame-fatal"
	// CutFlooder cuts a sender after its 1,000th ChatMessage with Error
	// slow_consumer, as a strict server that takes a flooding sender for
	// the slow one might: the sink it floods is never cut (5.10).
	CutFlooder ServerDefect = "cut-flooder"
)

// flooderLimit is the ChatMessages cut-flooder lets a connection send.
const flooderLimit = 1000

func init() {
	ServerDefects = append(ServerDefects, AcceptTrailing, AcceptFloatID, AcceptBadUTF8, FoldCase, CutAfterRefusal, FirstDuplicate, NullMalformed, DropUnnumberedAck,
		EmptyTypeUnknown, UnknownBeforeLogin, NoSelfRelay, SelfNotify, BadFrameFatal, CutFlooder)
}

// rewritesInPlace reports whether the defect repairs client payloads
// without changing their length.
func (p *ServerProxy) rewritesInPlace() bool {
	switch p.defect {
	case AcceptTrailing, AcceptFloatID, AcceptBadUTF8, FoldCase, FirstDuplicate, NullMalformed, EmptyTypeUnknown, UnknownBeforeLogin, NoSelfRelay, SelfNotify, CutFlooder:
		return true
	}
	return p.coverInPlace()
}

var (
	floatID  = regexp.MustCompile(`"id"\s*:\s*([0-9]+)(\.[0-9]+|[eE][+-]?[0-9]+)+`)
	userIDRe = regexp.MustCompile(`"(userID|destUserID)"\s*:\s*"([^"\\]*)"`)
	typeRe   = regexp.MustCompile(`"type"\s*:`)
	nullBody = regexp.MustCompile(`"body"\s*:\s*null`)
)

// repair applies an in-place defect to one client payload; the result has
// the payload's length.
func (p *ServerProxy) repair(payload []byte) []byte {
	out := append([]byte(nil), payload...)
	switch p.defect {
	case AcceptTrailing:
		d := json.NewDecoder(bytes.NewReader(out))
		var v json.RawMessage
		if d.Decode(&v) == nil {
			for i := int(d.InputOffset()); i < len(out); i++ {
				out[i] = ' '
			}
		}
	case AcceptFloatID:
		for _, m := range floatID.FindAllSubmatchIndex(out, -1) {
			for i := m[3]; i < m[1]; i++ { // after the integer part
				out[i] = ' '
			}
		}
	case AcceptBadUTF8:
		for i := 0; i < len(out); {
			r, n := utf8.DecodeRune(out[i:])
			if r == utf8.RuneError && n <= 1 {
				out[i] = '?'
				n = 1
			}
			i += n
		}
	case FirstDuplicate:
		for i, m := range typeRe.FindAllIndex(out, -1) {
			if i > 0 {
				out[m[0]+2] = 'Y'
			}
		}
	case NullMalformed:
		for _, m := range nullBody.FindAllIndex(out, -1) {
			copy(out[m[1]-4:m[1]], `"nu"`)
		}
	case FoldCase:
		for _, m := range userIDRe.FindAllSubmatchIndex(out, -1) {
			v := string(out[m[4]:m[5]])
			low := strings.ToLower(v)
			p.spell(low, v)
			copy(out[m[4]:m[5]], low)
		}
	}
	return out
}

func (p *ServerProxy) spell(low, orig string) { p.spellings.LoadOrStore(low, orig) }

// respell gives a server payload's userIDs back the spelling the clients
// used (fold-case).
func (p *ServerProxy) respell(payload []byte) []byte {
	return userIDRe.ReplaceAllFunc(payload, func(m []byte) []byte {
		ix := userIDRe.FindSubmatchIndex(m)
		o, ok := p.spellings.Load(string(m[ix[4]:ix[5]]))
		if !ok {
			return m
		}
		return append(append(append([]byte(nil), m[:ix[4]]...), o.(string)...), m[ix[5]:]...)
	})
}

// passRepaired sends a frame's length prefix on at once, then its payload
// repaired once it has all arrived; an intercepting defect may instead
// neutralise the payload, answer the client itself, or cut the connection.
func (p *ServerProxy) passRepaired(pr *pair, r io.Reader, hdr []byte, n uint32) error {
	if _, err := pr.server.Write(hdr); err != nil {
		return err
	}
	payload := make([]byte, n)
	if k, err := io.ReadFull(r, payload); err != nil {
		// Whatever arrived goes on: the reference server judges the rest.
		_, _ = pr.server.Write(payload[:k])
		return err
	}
	out, answer, cut := p.intercept(pr, payload)
	if _, err := pr.server.Write(out); err != nil {
		return err
	}
	if answer != nil {
		pr.wmu.Lock()
		err := protocol.WriteFrame(pr.client, *answer)
		pr.wmu.Unlock()
		if err != nil {
			return err
		}
	}
	if cut {
		return errCut
	}
	return nil
}

var errCut = errors.New("defective: connection cut")

// neutral is a harmless payload of n bytes (n >= 24): a HeartbeatAck,
// which a server takes as liveness only (5.8 rule 4), padded with spaces.
func neutral(n int) []byte {
	b := []byte(`{"type":"HeartbeatAck"`)
	for len(b) < n-1 {
		b = append(b, ' ')
	}
	return append(b, '}')
}

var emptyType = regexp.MustCompile(`"type"\s*:\s*""`)

// intercept applies the defect to one whole client payload: what to send
// the reference server (always len(payload) bytes), a frame to answer the
// client with itself, and whether to cut the connection then.
func (p *ServerProxy) intercept(pr *pair, payload []byte) ([]byte, *protocol.Frame, bool) {
	f, ferr := protocol.Unmarshal(payload)
	pr.mu.Lock()
	if ferr == nil && f.Type == protocol.TypeLogin && pr.user == "" {
		var l protocol.Login
		_ = json.Unmarshal(f.Body, &l)
		pr.user = l.UserID
	}
	first := !pr.started
	pr.started = true
	if ferr == nil && f.Type == protocol.TypeChatMessage {
		pr.chats++
	}
	chats := pr.chats
	user := pr.user
	pr.mu.Unlock()
	errFrame := func(id int64, e protocol.Error) *protocol.Frame {
		g := protocol.MustFrame(protocol.TypeError, e).WithRe(id)
		return &g
	}
	if out, answer, cut, ok := p.coverIntercept(pr, f, ferr, payload); ok {
		return out, answer, cut
	}
	switch p.defect {
	case EmptyTypeUnknown:
		if m := emptyType.Find(payload); m != nil && len(payload) >= 24 {
			var head struct {
				ID int64 `json:"id"`
			}
			_ = json.Unmarshal(payload, &head)
			return neutral(len(payload)), errFrame(head.ID, protocol.Error{Code: protocol.CodeUnknownType, Message: "defective: type \"\""}), true
		}
	case UnknownBeforeLogin:
		if first && ferr == nil && f.Type != protocol.TypeLogin && !protocol.Known(f.Type) && len(payload) >= 24 {
			return neutral(len(payload)), errFrame(f.ID, protocol.Error{Code: protocol.CodeUnknownType, Message: "defective: unknown type before login"}), true
		}
	case CutFlooder:
		if chats >= flooderLimit && len(payload) >= 24 {
			return neutral(len(payload)), errFrame(0, protocol.Error{Code: protocol.CodeSlowConsumer, Message: "defective: flooding sender cut"}), true
		}
	case NoSelfRelay:
		if ferr == nil && protocol.Relayable(f.Type) && user != "" && len(payload) >= 24 {
			r := relayMembers(f.Body)
			if r.DestUserID == user {
				return neutral(len(payload)), errFrame(f.ID, protocol.Error{Code: protocol.CodeUserOffline, Message: "defective: no relay to oneself",
					MessageID: r.MessageID, TransferID: r.TransferID}), false
			}
		}
	}
	return p.repair(payload), nil, false
}

// relayMembers reads the members of a relayable body the defects look at.
func relayMembers(b json.RawMessage) (r struct {
	DestUserID string `json:"destUserID"`
	MessageID  string `json:"messageID"`
	TransferID string `json:"transferID"`
}) {
	_ = json.Unmarshal(b, &r)
	return r
}

// notifySelf (self-notify) follows a successful LoginResult with a
// UserStateNotify about the newcomer itself; the caller holds pr.wmu.
func (p *ServerProxy) notifySelf(pr *pair, f protocol.Frame) error {
	var lr protocol.LoginResult
	if json.Unmarshal(f.Body, &lr) != nil || !lr.OK || lr.Observed == nil {
		return nil
	}
	pr.mu.Lock()
	user := pr.user
	pr.mu.Unlock()
	return protocol.WriteFrame(pr.client, protocol.MustFrame(protocol.TypeUserStateNotify,
		protocol.UserStateNotify{UserID: user, OnLine: true, IP: lr.Observed.IP, Port: lr.Observed.Port}))
}

// errorCode is the code of an Error frame ("" for other frames).
func errorCode(f protocol.Frame) string {
	if f.Type != protocol.TypeError {
		return ""
	}
	var e protocol.Error
	_ = json.Unmarshal(f.Body, &e)
	return e.Code
}
