package server

import (
	"errors"
	"fmt"
	"testing"

	"github.com/p2plab/p2plab/protocol"
)

// A relay refusal always has a code to answer with, whatever error the
// protocol package hands back (an unchecked errors.As would leave a nil
// *FrameError and panic on its Code).
func TestFrameError(t *testing.T) {
	forbidden := &protocol.FrameError{Code: protocol.CodeForbidden, Reason: "not yours"}
	for _, tc := range []struct {
		name       string
		err        error
		code, text string
	}{
		{"frame error", forbidden, protocol.CodeForbidden, "not yours"},
		{"wrapped frame error", fmt.Errorf("relay: %w", forbidden), protocol.CodeForbidden, "not yours"},
		{"plain error", errors.New("body is odd"), protocol.CodeBadFrame, "body is odd"},
		{"bad-frame sentinel only", fmt.Errorf("reader: %w", protocol.ErrBadFrame), protocol.CodeBadFrame, "reader: protocol: bad frame"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fe := frameError(tc.err)
			if fe == nil || fe.Code != tc.code || fe.Reason != tc.text {
				t.Fatalf("frameError(%v) = %+v, want code %q reason %q", tc.err, fe, tc.code, tc.text)
			}
		})
	}
}
