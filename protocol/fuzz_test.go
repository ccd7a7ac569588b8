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
