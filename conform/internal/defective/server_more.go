package defective

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/p2plab/p2plab/protocol"
)

// Server defects of the checks added for the normative index
// (docs/conformance.md).
const (
	// AnswerError answers every Error a client sends with an Error of its
	// own (docs/protocol.md 4.1 forbids it).
	AnswerError ServerDefect = "answer-error"
	// NullMembers writes an absent member as null: LoginResult gets
	// "error":null (docs/protocol.md 2.2: senders SHOULD omit it).
	NullMembers ServerDefect = "null-members"
)

func init() {
	// Kept apart from the list in server.go so that defects can be added
	// in separate files.
	ServerDefects = append(ServerDefects, AnswerError, NullMembers)
}

// clientSink is where the proxy copies the payload of a client frame as
// its bytes arrive: the real server, and for answer-error also a buffer;
// done, called once the payload is copied, applies the defect.
func (p *ServerProxy) clientSink(pr *pair) (w io.Writer, done func()) {
	if p.defect != AnswerError {
		return pr.server, func() {}
	}
	var buf bytes.Buffer
	return io.MultiWriter(pr.server, &buf), func() {
		f, err := protocol.Unmarshal(buf.Bytes())
		if err != nil || f.Type != protocol.TypeError {
			return
		}
		// One Write per frame: it does not interleave with serverToClient's.
		_ = protocol.WriteFrame(pr.client, protocol.MustFrame(protocol.TypeError,
			protocol.Error{Code: protocol.CodeUnknownType, Message: "defective: Error is not a request"}).WithRe(f.ID))
	}
}

// moreToClient applies the defects of this file to a frame from the real
// server.
func (p *ServerProxy) moreToClient(f protocol.Frame) protocol.Frame {
	if p.defect != NullMembers || f.Type != protocol.TypeLoginResult {
		return f
	}
	var m map[string]any
	if json.Unmarshal(f.Body, &m) != nil {
		return f
	}
	if _, ok := m["error"]; !ok {
		m["error"] = nil
	}
	if b, err := json.Marshal(m); err == nil {
		f.Body = b
	}
	return f
}
