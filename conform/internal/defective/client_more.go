package defective

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"sync"

	"github.com/p2plab/p2plab/protocol"
)

// Client defects of the checks added for the normative index
// (docs/conformance.md).
const (
	// OrderDependent takes ResP2pInfo to be sorted by userID, as the
	// reference server sends it: it reads the list only up to the first
	// entry out of order (docs/protocol.md 3.3: clients MUST NOT rely on
	// the order).
	OrderDependent ClientDefect = "order-dependent"
	// AnswerErrorChannel answers an Error on a P2P channel with an Error
	// (docs/protocol.md 4.1 forbids it).
	AnswerErrorChannel ClientDefect = "answer-error"
	// KeepBadChannel keeps a P2P channel open after it sent bad_frame or
	// forbidden on it (docs/protocol.md 2.4, 4.2 want it closed).
	KeepBadChannel ClientDefect = "keep-bad-channel"
	// IgnoreLengthChannel takes a length prefix above 1 MiB on a P2P
	// channel and waits for the payload (docs/protocol.md 2.1).
	IgnoreLengthChannel ClientDefect = "ignore-length-channel"
	// NullMembersClient writes its Login's userName as null, as a client
	// that has no name and writes null for it (docs/protocol.md 2.2:
	// senders SHOULD omit the member).
	NullMembersClient ClientDefect = "null-members"
	// NoResend never sends a ChatMessage to the server a second time: a
	// relayed chat left unacknowledged by a lost server connection is not
	// resent after the next login (docs/protocol.md 6.9).
	NoResend ClientDefect = "no-resend"
)

// moreState is what the defects of this file remember across connections.
type moreState struct {
	mu      sync.Mutex
	relayed map[string]bool // messageIDs of ChatMessages sent to the server
}

// seenBefore records a relayed messageID and reports whether it was sent
// before.
func (m *moreState) seenBefore(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.relayed == nil {
		m.relayed = map[string]bool{}
	}
	seen := m.relayed[id]
	m.relayed[id] = true
	return seen
}

// toServer filters and rewrites a frame from the wrapped client to its
// server; it returns false to drop it.
func (w *wrapper) toServer(f protocol.Frame) (protocol.Frame, bool) {
	if w.dropFromClient(f) {
		return f, false
	}
	if w.defect == NoResend && f.Type == protocol.TypeChatMessage {
		var c protocol.Chat
		if json.Unmarshal(f.Body, &c) == nil && w.more.seenBefore(c.MessageID) {
			return f, false
		}
	}
	if w.defect == NullMembersClient && f.Type == protocol.TypeLogin {
		var b map[string]json.RawMessage
		if json.Unmarshal(f.Body, &b) == nil {
			b["userName"] = json.RawMessage("null")
			if body, err := json.Marshal(b); err == nil {
				f.Body = body
			}
		}
	}
	return f, true
}

// toClient filters and rewrites a frame from the server to the wrapped
// client; it returns false to drop it.
func (w *wrapper) toClient(f protocol.Frame) (protocol.Frame, bool) {
	if w.dropToClient(f) {
		return f, false
	}
	if w.defect == OrderDependent && f.Type == protocol.TypeResP2pInfo {
		var b map[string]json.RawMessage
		var users []struct {
			UserID string `json:"userID"`
		}
		var raw []json.RawMessage
		if json.Unmarshal(f.Body, &b) == nil && json.Unmarshal(b["users"], &users) == nil && json.Unmarshal(b["users"], &raw) == nil {
			n := len(users)
			for i := 1; i < len(users); i++ {
				if users[i].UserID < users[i-1].UserID {
					n = i
					break
				}
			}
			if nb, err := json.Marshal(raw[:n]); err == nil {
				b["users"] = nb
				if body, err := json.Marshal(b); err == nil {
					f.Body = body
				}
			}
		}
	}
	return f, true
}

// pumpWith copies frames from src to dst through fn (false: drop).
func (w *wrapper) pumpWith(dst, src net.Conn, fn func(protocol.Frame) (protocol.Frame, bool)) {
	r := protocol.NewReader(bufio.NewReader(src))
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return
		}
		f, send := fn(f)
		if !send {
			continue
		}
		if err := protocol.WriteFrame(dst, f); err != nil {
			return
		}
	}
}

// channelIn copies an inbound P2P channel from the peer (src) to the
// wrapped client (dst) frame by frame, byte for byte, so that the client
// itself sees and answers malformed frames; after a length outside
// 1..MaxFrameLen it copies the rest unframed. Two defects act here:
// ignore-length-channel waits for an oversized payload, and answer-error
// answers the peer's Errors with an Error.
func (w *wrapper) channelIn(dst, src net.Conn) {
	r := bufio.NewReader(src)
	hdr := make([]byte, 4)
	ch := &inChannel{src: src, first: true}
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr)
		if n == 0 || n > protocol.MaxFrameLen {
			if n > protocol.MaxFrameLen && w.defect == IgnoreLengthChannel {
				if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
					return
				}
				continue
			}
			if _, err := dst.Write(hdr); err != nil {
				return
			}
			_, _ = io.Copy(dst, r)
			return
		}
		if w.rewritesChannel() { // client_strict.go
			payload := make([]byte, n)
			if _, err := io.ReadFull(r, payload); err != nil {
				return
			}
			for _, b := range w.channelRewrite(ch, hdr, payload) {
				if _, err := dst.Write(b); err != nil {
					return
				}
			}
			continue
		}
		if _, err := dst.Write(hdr); err != nil {
			return
		}
		var buf bytes.Buffer
		var sink io.Writer = dst
		if w.defect == AnswerErrorChannel {
			sink = io.MultiWriter(dst, &buf)
		}
		if _, err := io.CopyN(sink, r, int64(n)); err != nil {
			return
		}
		if f, err := protocol.Unmarshal(buf.Bytes()); buf.Len() > 0 && err == nil && f.Type == protocol.TypeError {
			// One Write per frame: it does not interleave with the pump
			// from the client.
			_ = protocol.WriteFrame(src, protocol.MustFrame(protocol.TypeError,
				protocol.Error{Code: protocol.CodeUnknownType, Message: "defective: Error is not a request"}).WithRe(f.ID))
		}
	}
}

// channelOut returns the filter for frames from the wrapped client on an
// inbound channel, and keep, which tells (once the client closed the
// channel) whether keep-bad-channel leaves the peer's side open: after
// the client sent bad_frame or forbidden.
func (w *wrapper) channelOut() (drop func(protocol.Frame) bool, keep func() bool) {
	var mu sync.Mutex
	refused := false
	drop = func(f protocol.Frame) bool {
		if f.Type == protocol.TypeError {
			var e protocol.Error
			_ = json.Unmarshal(f.Body, &e)
			if e.Code == protocol.CodeBadFrame || e.Code == protocol.CodeForbidden {
				mu.Lock()
				refused = true
				mu.Unlock()
			}
		}
		return w.dropFromClient(f) || w.coverDropOnChannel(f)
	}
	keep = func() bool {
		mu.Lock()
		defer mu.Unlock()
		return w.defect == KeepBadChannel && refused
	}
	return drop, keep
}
