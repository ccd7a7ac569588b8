package client_test

import (
	"testing"

	"github.com/p2plab/p2plab/api"
)

// startServer starts a server for one test.
func startServer(t *testing.T) *fakeServer { return newFakeServer(t) }

// userStats returns the server's counters for user (ok false if the server
// has no admin API).
func userStats(t *testing.T, s *fakeServer, user string) (api.UserStats, bool) {
	return api.UserStats{}, false
}
