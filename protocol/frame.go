package protocol

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// FrameError is a decoding failure that the peer caused. Code is one of the
// protocol error codes (normally CodeBadFrame). A connection that produced
// one must be answered with an Error frame and closed.
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

// Unmarshal decodes one frame payload (without the length prefix).
func Unmarshal(payload []byte) (Frame, error) {
	if len(payload) == 0 || len(payload) > MaxFrameLen {
		return Frame{}, badFrame("length %d out of range 1..%d", len(payload), MaxFrameLen)
	}
	var raw struct {
		Type *string         `json:"type"`
		ID   *json.Number    `json:"id"`
		Re   *json.Number    `json:"re"`
		Body json.RawMessage `json:"body"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Frame{}, badFrame("not a JSON object: %v", err)
	}
	if dec.More() {
		return Frame{}, badFrame("trailing data after JSON object")
	}
	// A JSON object is required; "null" decodes into raw without error.
	if first := firstNonSpace(payload); first != '{' {
		return Frame{}, badFrame("not a JSON object")
	}
	if raw.Type == nil || *raw.Type == "" {
		return Frame{}, badFrame("no type")
	}
	f := Frame{Type: *raw.Type, Body: raw.Body}
	var err error
	if f.ID, err = intField("id", raw.ID); err != nil {
		return Frame{}, err
	}
	if f.Re, err = intField("re", raw.Re); err != nil {
		return Frame{}, err
	}
	if len(f.Body) > 0 && string(f.Body) != "null" && firstNonSpace(f.Body) != '{' {
		return Frame{}, badFrame("body is not a JSON object")
	}
	return f, nil
}

func intField(name string, n *json.Number) (int64, error) {
	if n == nil {
		return 0, nil
	}
	v, err := n.Int64()
	if err != nil || v < 0 {
		return 0, badFrame("%s %q is not a non-negative integer", name, n.String())
	}
	return v, nil
}

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// Reader reads frames from a byte stream. It allocates a payload buffer only
// after the length has been checked, so a peer cannot make it allocate more
// than MaxFrameLen bytes per frame.
type Reader struct {
	r   io.Reader
	hdr [headerLen]byte
	buf []byte
}

// NewReader returns a Reader that reads frames from r. Wrap r in a
// bufio.Reader for fewer system calls.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// ReadFrame reads the next frame. It returns io.EOF at a clean end of stream
// (between frames), io.ErrUnexpectedEOF for a stream cut inside a frame, a
// *FrameError for a malformed frame, and any error of the underlying reader.
func (r *Reader) ReadFrame() (Frame, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(r.hdr[:])
	if n == 0 || n > MaxFrameLen {
		return Frame{}, badFrame("length %d out of range 1..%d", n, MaxFrameLen)
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n)
	}
	p := r.buf[:n]
	if _, err := io.ReadFull(r.r, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, err
	}
	f, err := Unmarshal(p)
	if err != nil {
		return Frame{}, err
	}
	// Body aliases the reusable buffer: copy it out.
	if len(f.Body) > 0 {
		f.Body = append(json.RawMessage(nil), f.Body...)
	}
	// Release large buffers so one big frame does not pin a megabyte.
	if cap(r.buf) > 64<<10 {
		r.buf = nil
	}
	return f, nil
}

// ReadFrame reads one frame from r without buffering state; see
// Reader.ReadFrame.
func ReadFrame(r io.Reader) (Frame, error) { return NewReader(r).ReadFrame() }
