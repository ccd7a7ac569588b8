package protocol

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Version is the protocol version this package implements.
const Version = 1

// MaxFrameLen is the largest allowed frame payload, in bytes. A frame's
// payload length L must satisfy 1 <= L <= MaxFrameLen.
const MaxFrameLen = 1 << 20

// MaxChunkData is the largest raw (pre-base64) size of FileChunk data.
const MaxChunkData = 64 << 10

// headerLen is the size of the big-endian length prefix.
const headerLen = 4

// Frame is one protocol message: a type, an optional request id, an optional
// reply-to id and an optional JSON body.
type Frame struct {
	// Type names the message; it is required.
	Type string `json:"type"`
	// ID is set (>= 1) on a request that wants a reply.
	ID int64 `json:"id,omitempty"`
	// Re is set on a reply and equals the request's ID.
	Re int64 `json:"re,omitempty"`
	// Body is the message body; it may be absent.
	Body json.RawMessage `json:"body,omitempty"`
}

// FrameError is a failure that the peer caused. Code is one of the protocol
// error codes: CodeBadFrame for a malformed frame (the connection that sent
// it must be answered with an Error frame and closed), or the code a helper
// such as RelayBody names (e.g. CodeForbidden).
type FrameError struct {
	Code   string
	Reason string
}

func (e *FrameError) Error() string { return "protocol: " + e.Code + ": " + e.Reason }

// ErrBadFrame matches (with errors.Is) every *FrameError.
var ErrBadFrame = errors.New("protocol: bad frame")

// Is reports whether target is ErrBadFrame.
func (e *FrameError) Is(target error) bool { return target == ErrBadFrame }

func badFrame(format string, args ...any) error {
	return &FrameError{Code: CodeBadFrame, Reason: fmt.Sprintf(format, args...)}
}

// NewFrame builds a frame whose body is v marshalled to JSON. A nil v gives a
// frame without a body.
func NewFrame(typ string, v any) (Frame, error) {
	f := Frame{Type: typ}
	if v == nil {
		return f, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return Frame{}, fmt.Errorf("protocol: marshal %s body: %w", typ, err)
	}
	f.Body = b
	return f, nil
}

// MustFrame is NewFrame for bodies that cannot fail to marshal (the body
// types of this package); it panics otherwise.
func MustFrame(typ string, v any) Frame {
	f, err := NewFrame(typ, v)
	if err != nil {
		panic(err)
	}
	return f
}

// DecodeBody unmarshals the frame's body into v. An absent body leaves v
// unchanged. A body that does not fit v is a bad frame.
func (f Frame) DecodeBody(v any) error {
	if len(f.Body) == 0 || string(f.Body) == "null" {
		return nil
	}
	if err := json.Unmarshal(f.Body, v); err != nil {
		return badFrame("%s body: %v", f.Type, err)
	}
	return nil
}

// Marshal encodes f as a complete frame: length prefix and JSON payload.
func Marshal(f Frame) ([]byte, error) {
	if f.Type == "" {
		return nil, errors.New("protocol: frame without type")
	}
	if f.ID < 0 || f.Re < 0 {
		return nil, fmt.Errorf("protocol: %s frame with negative id or re", f.Type)
	}
	var buf bytes.Buffer
	buf.Write([]byte{0, 0, 0, 0})
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("protocol: marshal %s: %w", f.Type, err)
	}
	b := buf.Bytes()
	b = b[:len(b)-1] // drop the encoder's newline
	n := len(b) - headerLen
	if n > MaxFrameLen {
		return nil, fmt.Errorf("protocol: %s frame of %d bytes exceeds %d", f.Type, n, MaxFrameLen)
	}
	binary.BigEndian.PutUint32(b, uint32(n))
	return b, nil
}

// WriteFrame writes f to w as one frame, with a single Write call.
func WriteFrame(w io.Writer, f Frame) error {
	b, err := Marshal(f)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Unmarshal decodes one frame payload (without the length prefix). The
// payload must be 1..MaxFrameLen bytes of UTF-8 holding exactly one JSON
// object with a non-empty string "type"; "id" and "re", when present and not
// null, must be integers >= 1; "body", when present and not null, must be a
// JSON object. Member names are matched exactly (case-sensitively); unknown
// members are ignored; for a repeated member the last one counts. A body of
// null is treated as absent. The returned frame does not alias payload.
func Unmarshal(payload []byte) (Frame, error) {
	if len(payload) == 0 || len(payload) > MaxFrameLen {
		return Frame{}, badFrame("length %d out of range 1..%d", len(payload), MaxFrameLen)
	}
	if !utf8.Valid(payload) {
		return Frame{}, badFrame("payload is not UTF-8")
	}
	if !json.Valid(payload) {
		return Frame{}, badFrame("payload is not JSON")
	}
	if firstNonSpace(payload) != '{' {
		return Frame{}, badFrame("payload is not a JSON object")
	}
	var f Frame
	var body []byte
	err := eachMember(payload, func(m Member) error {
		var err error
		switch string(m.Key) {
		case "type":
			s, ok := m.String()
			if !ok && string(m.Value) != "null" {
				return badFrame("type is not a string")
			}
			f.Type = s
		case "id":
			f.ID, err = jsonInt("id", m.Value)
		case "re":
			f.Re, err = jsonInt("re", m.Value)
		case "body":
			switch {
			case string(m.Value) == "null":
				body = nil
			case m.Value[0] == '{':
				body = m.Value
			default:
				return badFrame("body is not a JSON object")
			}
		}
		return err
	})
	if err != nil {
		var fe *FrameError
		if errors.As(err, &fe) {
			return Frame{}, err
		}
		return Frame{}, badFrame("%v", err)
	}
	if f.Type == "" {
		return Frame{}, badFrame("no type")
	}
	if body != nil {
		f.Body = append(json.RawMessage(nil), body...)
	}
	return f, nil
}

func firstNonSpace(b []byte) byte {
	if i := skipSpace(b, 0); i < len(b) {
		return b[i]
	}
	return 0
}

// Reader reads frames from a byte stream. It checks the length before it
// reads a payload, and grows the payload buffer only as bytes arrive, so a
// peer cannot make it allocate more than MaxFrameLen bytes per frame, nor
// much more than it actually sent.
type Reader struct {
	r   io.Reader
	hdr [headerLen]byte
	buf []byte
}

// NewReader returns a Reader that reads frames from r. Wrap r in a
// bufio.Reader for fewer system calls.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// growStep is the payload buffer size allocated up front; larger payloads
// grow the buffer as their bytes arrive.
const growStep = 64 << 10

// ReadFrame reads the next frame. It returns io.EOF at a clean end of stream
// (between frames), io.ErrUnexpectedEOF for a stream cut inside a frame, a
// *FrameError for a malformed frame, and any error of the underlying reader.
// A length outside 1..MaxFrameLen is reported right after the 4-byte header,
// without reading further.
func (r *Reader) ReadFrame() (Frame, error) {
	p, err := r.ReadPayload()
	if err != nil {
		return Frame{}, err
	}
	return Unmarshal(p)
}

// ReadPayload reads the next frame like ReadFrame but returns its payload
// undecoded (pass it to Unmarshal). The payload is valid until the next call.
func (r *Reader) ReadPayload() ([]byte, error) {
	if k, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		if k > 0 && err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(r.hdr[:]))
	if n == 0 || n > MaxFrameLen {
		return nil, badFrame("length %d out of range 1..%d", n, MaxFrameLen)
	}
	return r.readPayload(n)
}

func (r *Reader) readPayload(n int) ([]byte, error) {
	if n <= growStep {
		if cap(r.buf) < n {
			r.buf = make([]byte, growStep)
		}
		p := r.buf[:n]
		if _, err := io.ReadFull(r.r, p); err != nil {
			return nil, noEOF(err)
		}
		return p, nil
	}
	// Large frame: grow geometrically as data arrives; never keep it.
	p := make([]byte, 0, growStep)
	for len(p) < n {
		if len(p) == cap(p) {
			np := make([]byte, len(p), min(n, 2*cap(p)))
			copy(np, p)
			p = np
		}
		k, err := io.ReadFull(r.r, p[len(p):min(n, cap(p))])
		p = p[:len(p)+k]
		if err != nil {
			return nil, noEOF(err)
		}
	}
	return p, nil
}

// noEOF turns io.EOF inside a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadFrame reads one frame from r without buffering state; see
// Reader.ReadFrame.
func ReadFrame(r io.Reader) (Frame, error) { return NewReader(r).ReadFrame() }

// WithRe returns f with Re set to re (0 leaves it unset): the way to address
// a reply to a request's id.
func (f Frame) WithRe(re int64) Frame {
	f.Re = re
	return f
}
