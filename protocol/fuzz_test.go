package protocol

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReadFrame feeds arbitrary byte streams to the Reader. It must never
// panic, must report every length outside 1..MaxFrameLen right after the
// header (without reading or allocating for the payload), and every frame it
// accepts must survive a Marshal/ReadFrame round trip.
func FuzzReadFrame(f *testing.F) {
	// The checked-in corpus lives in testdata/fuzz/FuzzReadFrame; a few
	// extra seeds here keep the target useful without it.
	for _, s := range []string{
		"",
		string(frameBytes(`{"type":"Heartbeat","id":1}`)),
		string(frameBytes(`{"type":"ChatMessage","body":{"userID":"a","destUserID":"b"}}`)),
		"\xff\xff\xff\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cr := &countingReader{r: bytes.NewReader(data)}
		r := NewReader(cr)
		for range 64 {
			before := cr.n
			fr, err := r.ReadFrame()
			if err != nil {
				var fe *FrameError
				if errors.As(err, &fe) && fe.Code != CodeBadFrame {
					t.Fatalf("frame error with code %s", fe.Code)
				}
				if !errors.Is(err, ErrBadFrame) && err != io.EOF && err != io.ErrUnexpectedEOF {
					t.Fatalf("unexpected error %v", err)
				}
				if len(data)-before >= 4 {
					n := uint32(data[before])<<24 | uint32(data[before+1])<<16 | uint32(data[before+2])<<8 | uint32(data[before+3])
					if (n == 0 || n > MaxFrameLen) && cr.n-before != 4 {
						t.Fatalf("length %d: read %d bytes, want just the header", n, cr.n-before)
					}
				}
				return
			}
			if fr.Type == "" || fr.ID < 0 || fr.Re < 0 {
				t.Fatalf("accepted invalid frame %+v", fr)
			}
			if len(fr.Body) > 0 && fr.Body[0] != '{' {
				t.Fatalf("accepted non-object body %s", fr.Body)
			}
			raw, err := Marshal(fr)
			if err != nil {
				// Re-encoding can only fail on size: compaction never grows.
				t.Fatalf("re-marshal %+v: %v", fr, err)
			}
			again, err := ReadFrame(bytes.NewReader(raw))
			if err != nil || again.Type != fr.Type || again.ID != fr.ID || again.Re != fr.Re {
				t.Fatalf("round trip of %+v gave %+v, %v", fr, again, err)
			}
			if len(fr.Body) > 0 {
				_, _, _ = RelayBody(fr.Body, "fuzz")
			}
		}
	})
}

// FuzzUnmarshalDatagram feeds arbitrary datagrams to UnmarshalDatagram
// (docs/protocol.md 9.5): it must never panic, must refuse with
// ErrBadFrame anything that is not exactly one frame of 5..MaxDatagram
// bytes, and what it accepts must (when it still fits) encode back to a
// datagram that decodes to the same type.
func FuzzUnmarshalDatagram(f *testing.F) {
	for _, s := range []string{
		"",
		"\x00\x00\x00\x01{",
		string(frameBytes(`{"type":"UDPHello","body":{"userID":"a","token":"t","seq":1}}`)),
		string(frameBytes(`{"type":"Punch","body":{"punchID":"p","userID":"a"}}`)),
		"\xc0\x00\x00\x00\x01\x08", // the start of a QUIC long header
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := UnmarshalDatagram(data)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error %v, want ErrBadFrame", err)
			}
			return
		}
		if len(data) < 5 || len(data) > MaxDatagram || data[0] != 0 {
			t.Fatalf("accepted a datagram of %d bytes starting %#x", len(data), data[0])
		}
		if raw, err := Marshal(fr); err != nil || len(raw) > MaxDatagram {
			return // re-encoding may escape characters (e.g. '<') and outgrow a datagram
		}
		b, err := MarshalDatagram(fr)
		if err != nil {
			t.Fatalf("accepted frame does not encode back: %v", err)
		}
		g, err := UnmarshalDatagram(b)
		if err != nil || g.Type != fr.Type {
			t.Fatalf("round trip: %v %q vs %q", err, g.Type, fr.Type)
		}
	})
}
