package client_test

import (
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/server"
	"github.com/p2plab/p2plab/server/servertest"
)

// startServer starts a reference server for one test (heartbeat 200ms,
// dead after 5 misses).
func startServer(t *testing.T) *servertest.Server {
	return servertest.NewServer(t, server.Config{Heartbeat: 200 * time.Millisecond, Misses: 5})
}

// userStats returns the server's counters for user.
func userStats(t *testing.T, s *servertest.Server, user string) (api.UserStats, bool) {
	t.Helper()
	st, err := s.Admin.Stats(tctx(t))
	if err != nil {
		t.Fatalf("admin stats: %v", err)
	}
	u, _ := st.User(user)
	return u, true
}
