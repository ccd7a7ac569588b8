package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
)

// The control API's status codes (docs/control-api.md) follow the error's
// kind, matched with errors.Is, however the error was wrapped or worded.
func TestErrStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{ErrNoPath, http.StatusServiceUnavailable},
		{fmt.Errorf("send to bob: %w", ErrNoPath), http.StatusServiceUnavailable},
		{ErrLoggedOut, http.StatusConflict},
		{fmt.Errorf("files: %w", ErrLoggedOut), http.StatusConflict},
		{fmt.Errorf("files: %w", ErrStopping), http.StatusConflict},
		{fmt.Errorf("peer: bob is %w (no endpoint known)", ErrPeerOffline), http.StatusNotFound},
		{fmt.Errorf("connect bob at 198.18.0.2:4000: %w: connection refused", ErrDialFailed), http.StatusBadGateway},
		{fmt.Errorf("connect bob: %w", context.DeadlineExceeded), http.StatusServiceUnavailable},
		{errors.New("peer: required"), http.StatusBadRequest},
		// Text alone means nothing: an input error that happens to read
		// "logged out" is still bad input.
		{errors.New("logged out"), http.StatusBadRequest},
	} {
		if got := errStatus(tc.err); got != tc.want {
			t.Errorf("errStatus(%q) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
