package defective

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/p2plab/p2plab/protocol"
)

// Client defects that give every client MUST requirement a defect that
// fails it (docs/conformance.md, the self-test's defect table).
const (
	// SwapInitiator reports every channel as initiated by the other side
	// (6.2, 6.3, 6.4): the control API proxy swaps initiator in
	// GET /v1/channels.
	SwapInitiator ClientDefect = "swap-initiator"
	// WrongAcceptLog logs an accepted channel as "accept <peer>:..."
	// instead of "accepted <peer>:..." (7.2).
	WrongAcceptLog ClientDefect = "wrong-accept-log"
	// WrongCreateLog logs a channel it opened as "made <peer>:..." instead
	// of "created <peer>:..." (7.2).
	WrongCreateLog ClientDefect = "wrong-create-log"
	// KeylessID advertises feature id without its public key (9.1): the
	// wrapper drops the key from its Login.
	KeylessID ClientDefect = "keyless-id"
	// LaxNotFound answers an unknown control API path with 200 {} instead
	// of 404 (control API).
	LaxNotFound ClientDefect = "lax-not-found"
	// NoLongPoll never long-polls GET /v1/events: the proxy asks the
	// client without wait and, when nothing is there, answers empty at
	// the wait's end, even if an event came meanwhile.
	NoLongPoll ClientDefect = "no-long-poll"
	// RawListen reports in GET /v1/status the endpoint the client listens
	// on behind the wrapper, not the one the server advertises.
	RawListen ClientDefect = "raw-listen"
	// FakeLogout answers POST /v1/logout 200 without logging out.
	FakeLogout ClientDefect = "fake-logout"
	// SwapVia reports via=relay for a message or file sent over a channel
	// and via=p2p for one sent through the server (6.5): the proxy swaps
	// via in the answers of POST /v1/chat and POST /v1/files.
	SwapVia ClientDefect = "swap-via"
	// SwallowOffline drops the server's Error user_offline on its way to
	// the client (6.6): a message to an offline user is silently lost.
	SwallowOffline ClientDefect = "swallow-offline"
	// NoChannelHeartbeat never sends Heartbeats on P2P channels (6.7):
	// the wrapper drops them.
	NoChannelHeartbeat ClientDefect = "no-channel-heartbeat"
	// KeepSilentChannel never notices a silent channel (6.7): the wrapper
	// feeds the client a Heartbeat every half interval on each channel
	// (and drops the client's answers to them).
	KeepSilentChannel ClientDefect = "keep-silent-channel"
	// SetupLate sends a Heartbeat before SetupP2PMessage on the channels
	// it opens (6.3): the wrapper writes it on the dial.
	SetupLate ClientDefect = "setup-late"
	// DoubleDeliver delivers a duplicate ClientChatMessage a second time
	// (6.6): the wrapper gives a repeated messageID a suffix on the
	// channel, and takes it off again in the client's ChatAck and in
	// GET /v1/events.
	DoubleDeliver ClientDefect = "double-deliver"
	// NoChannelResend never resends through the server a message first
	// sent over a channel (6.6): the wrapper drops the ChatMessage.
	NoChannelResend ClientDefect = "no-channel-resend"
	// NoP2PChat never sends a chat over a channel (6.5): the wrapper drops
	// the client's ClientChatMessages on channels.
	NoP2PChat ClientDefect = "no-p2p-chat"
	// NoChatRelay never sends a chat through the server (6.5): the wrapper
	// drops the client's ChatMessages on its server link.
	NoChatRelay ClientDefect = "no-chat-relay"
	// NoP2PFile never sends a file over a channel (6.5): the wrapper drops
	// the client's FileOffer, FileChunk and FileDone on channels.
	NoP2PFile ClientDefect = "no-p2p-file"
	// FragileChannels tears its P2P channels down with its server
	// connection (6.9): the wrapper closes them when the link ends.
	FragileChannels ClientDefect = "fragile-channels"
)

// coverHeartbeatID is the first frame id of the Heartbeats that
// keep-silent-channel feeds the client; the client's acks to them are
// dropped.
const coverHeartbeatID = 1 << 40

// coverState is what the defects of this file remember.
type coverState struct {
	mu       sync.Mutex
	seen     map[string]bool       // double-deliver: sender/messageID on channels; no-channel-resend: own messageIDs
	channels map[net.Conn]struct{} // fragile-channels: the open channel connections
	hb       int64                 // keep-silent-channel: the last Heartbeat id fed
}

// mark records key and reports whether it was recorded before.
func (s *coverState) mark(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	was := s.seen[key]
	s.seen[key] = true
	return was
}

// has reports whether key was recorded.
func (s *coverState) has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[key]
}

// coverChannel registers a channel connection of the wrapped client
// (fragile-channels) and starts keep-silent-channel's Heartbeats to it;
// the returned func undoes both.
func (w *wrapper) coverChannel(cl net.Conn) func() {
	switch w.defect {
	case FragileChannels:
		w.cover.mu.Lock()
		if w.cover.channels == nil {
			w.cover.channels = map[net.Conn]struct{}{}
		}
		w.cover.channels[cl] = struct{}{}
		w.cover.mu.Unlock()
		return func() {
			w.cover.mu.Lock()
			delete(w.cover.channels, cl)
			w.cover.mu.Unlock()
		}
	case KeepSilentChannel:
		// One Write per frame, as channelIn writes whole frames for this
		// defect.
		return w.beat(cl, func() protocol.Frame {
			w.cover.mu.Lock()
			defer w.cover.mu.Unlock()
			w.cover.hb++
			return protocol.Frame{Type: protocol.TypeHeartbeat, ID: coverHeartbeatID + w.cover.hb}
		})
	}
	return func() {}
}

// serverLost (fragile-channels) closes every channel when the client's
// server link ends.
func (w *wrapper) serverLost() {
	if w.defect != FragileChannels {
		return
	}
	w.cover.mu.Lock()
	defer w.cover.mu.Unlock()
	for c := range w.cover.channels {
		_ = c.Close()
	}
}

// coverDropOnChannel reports whether a frame from the wrapped client on a
// channel is to be dropped, and records what no-channel-resend needs.
func (w *wrapper) coverDropOnChannel(f protocol.Frame) bool {
	switch w.defect {
	case NoChannelHeartbeat:
		return f.Type == protocol.TypeHeartbeat
	case NoP2PChat:
		return f.Type == protocol.TypeClientChatMessage
	case NoP2PFile:
		return f.Type == protocol.TypeFileOffer || f.Type == protocol.TypeFileChunk || f.Type == protocol.TypeFileDone
	case KeepSilentChannel:
		return f.Type == protocol.TypeHeartbeatAck && f.Re > coverHeartbeatID
	case NoChannelResend:
		if f.Type == protocol.TypeClientChatMessage {
			var c protocol.Chat
			if json.Unmarshal(f.Body, &c) == nil {
				w.cover.mark(c.MessageID)
			}
		}
	}
	return false
}

// coverRewrite (double-deliver) gives a ClientChatMessage from a peer
// whose sender and messageID came before a fresh messageID.
func (w *wrapper) coverRewrite(f protocol.Frame) protocol.Frame {
	if w.defect != DoubleDeliver || f.Type != protocol.TypeClientChatMessage {
		return f
	}
	var b map[string]any
	if json.Unmarshal(f.Body, &b) != nil {
		return f
	}
	id, _ := b["messageID"].(string)
	from, _ := b["userID"].(string)
	if !w.cover.mark(from + "\x00" + id) {
		return f
	}
	b["messageID"] = id + againSuffix
	if body, err := json.Marshal(b); err == nil {
		f.Body = body
	}
	return f
}

// againSuffix marks a duplicate's messageID (double-deliver).
const againSuffix = "-again"

// coverFromClient (double-deliver) takes the suffix off the messageID of
// a ChatAck from the wrapped client on a channel.
func (w *wrapper) coverFromClient(f protocol.Frame) protocol.Frame {
	if w.defect != DoubleDeliver || f.Type != protocol.TypeChatAck || !bytes.Contains(f.Body, []byte(againSuffix+`"`)) {
		return f
	}
	f.Body = bytes.ReplaceAll(f.Body, []byte(againSuffix+`"`), []byte(`"`))
	return f
}

// coverToServer filters a frame from the wrapped client to its server.
func (w *wrapper) coverToServer(f protocol.Frame) (protocol.Frame, bool) {
	switch {
	case w.defect == NoChatRelay && f.Type == protocol.TypeChatMessage:
		return f, false
	case w.defect == NoChannelResend && f.Type == protocol.TypeChatMessage:
		var c protocol.Chat
		if json.Unmarshal(f.Body, &c) == nil && w.cover.has(c.MessageID) {
			return f, false
		}
	case w.defect == KeylessID && f.Type == protocol.TypeLogin:
		var b map[string]json.RawMessage
		if json.Unmarshal(f.Body, &b) == nil {
			delete(b, "key")
			if body, err := json.Marshal(b); err == nil {
				f.Body = body
			}
		}
	}
	return f, true
}

// coverDropToClient (swallow-offline) drops the server's Error
// user_offline.
func (w *wrapper) coverDropToClient(f protocol.Frame) bool {
	if w.defect != SwallowOffline || f.Type != protocol.TypeError {
		return false
	}
	var e protocol.Error
	return json.Unmarshal(f.Body, &e) == nil && e.Code == protocol.CodeUserOffline
}

// coverControl wraps the control API proxy with the defects of this file
// that act on the control API.
func (w *wrapper) coverControl(next http.Handler) http.Handler {
	switch w.defect {
	case SwapInitiator, WrongAcceptLog, WrongCreateLog, LaxNotFound, NoLongPoll, RawListen, FakeLogout, SwapVia, DoubleDeliver:
	default:
		return next
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if w.defect == FakeLogout && r.Method == http.MethodPost && p == "/v1/logout" {
			writeJSON(rw, http.StatusOK, []byte("{}"))
			return
		}
		var wait time.Duration
		if w.defect == NoLongPoll && p == "/v1/events" {
			q := r.URL.Query()
			wait, _ = time.ParseDuration(q.Get("wait"))
			q.Del("wait")
			r.URL.RawQuery = q.Encode()
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		status, body := rec.Code, rec.Body.Bytes()
		switch {
		case wait > 0 && status == http.StatusOK:
			if t := bytes.TrimSpace(body); string(t) == "[]" || string(t) == "null" {
				select {
				case <-time.After(wait):
				case <-r.Context().Done():
				}
			}
		case w.defect == DoubleDeliver && p == "/v1/events":
			body = bytes.ReplaceAll(body, []byte(againSuffix+`"`), []byte(`"`))
		case w.defect == LaxNotFound && status == http.StatusNotFound:
			status, body = http.StatusOK, []byte("{}")
		case w.defect == SwapInitiator && strings.HasPrefix(p, "/v1/channels") && status == http.StatusOK:
			body = w.swapInitiators(body)
		case w.defect == WrongAcceptLog && p == "/v1/log":
			body = bytes.ReplaceAll(body, []byte("accepted "), []byte("accept "))
		case w.defect == WrongCreateLog && p == "/v1/log":
			body = bytes.ReplaceAll(body, []byte("created "), []byte("made "))
		case w.defect == RawListen && p == "/v1/status":
			w.mu.Lock()
			real, adv := w.listenReal, w.advertised
			w.mu.Unlock()
			if real != "" {
				body = bytes.ReplaceAll(body, []byte(`"`+adv+`"`), []byte(`"`+real+`"`))
			}
		case w.defect == SwapVia && r.Method == http.MethodPost && (p == "/v1/chat" || p == "/v1/files"):
			s := strings.NewReplacer(`"via":"p2p"`, `"via":"relay"`, `"via":"relay"`, `"via":"p2p"`).Replace(string(body))
			body = []byte(s)
		}
		for k, v := range rec.Header() {
			rw.Header()[k] = v
		}
		writeJSON(rw, status, body)
	})
}

// writeJSON writes a whole control API answer.
func writeJSON(rw http.ResponseWriter, status int, body []byte) {
	if rw.Header().Get("Content-Type") == "" {
		rw.Header().Set("Content-Type", "application/json")
	}
	rw.Header().Set("Content-Length", strconv.Itoa(len(body)))
	rw.WriteHeader(status)
	_, _ = rw.Write(body)
}

// swapInitiators (swap-initiator) names the other side as the initiator of
// each channel in a GET /v1/channels answer ({"channels": [...]} or one
// channel).
func (w *wrapper) swapInitiators(body []byte) []byte {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return body
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			peer, _ := x["peer"].(string)
			if in, ok := x["initiator"].(string); ok && peer != "" {
				if in == w.user {
					x["initiator"] = peer
				} else {
					x["initiator"] = w.user
				}
			}
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	if b, err := json.Marshal(v); err == nil {
		return b
	}
	return body
}
