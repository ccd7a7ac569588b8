package defective

import (
	"bytes"
	"encoding/json"
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
	// AnswerError answers an Error from a client with an Error (4.1).
	AnswerError ServerDefect = "answer-error"
	// DropUnnumberedAck drops the HeartbeatAck answering a Heartbeat that
	// had no id (3.8).
	DropUnnumberedAck ServerDefect = "drop-unnumbered-ack"
)

func init() {
	ServerDefects = append(ServerDefects, AcceptTrailing, AcceptFloatID, AcceptBadUTF8, FoldCase, CutAfterRefusal, FirstDuplicate, NullMalformed, AnswerError, DropUnnumberedAck)
}

// rewritesInPlace reports whether the defect repairs client payloads
// without changing their length.
func (p *ServerProxy) rewritesInPlace() bool {
	switch p.defect {
	case AcceptTrailing, AcceptFloatID, AcceptBadUTF8, FoldCase, FirstDuplicate, NullMalformed, AnswerError:
		return true
	}
	return false
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
// repaired once it has all arrived.
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
	if _, err := pr.server.Write(p.repair(payload)); err != nil {
		return err
	}
	if f, err := protocol.Unmarshal(payload); p.defect == AnswerError && err == nil && f.Type == protocol.TypeError {
		pr.wmu.Lock()
		defer pr.wmu.Unlock()
		return protocol.WriteFrame(pr.client, protocol.MustFrame(protocol.TypeError, protocol.Error{Code: protocol.CodeBadFrame, Message: "defective: an Error answered"}).WithRe(f.ID))
	}
	return nil
}
