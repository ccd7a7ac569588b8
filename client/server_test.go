package client_test

import (
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/server"
	"github.com/p2plab/p2plab/server/servertest"
)

// startServer starts a reference server for one test. Its heartbeat is
// lenient (1s, dead after 5 misses): these tests are about the client, and
// a loaded CI machine must not make the server drop one.
func startServer(t *testing.T) *servertest.Server {
	return servertest.NewServer(t, server.Config{Heartbeat: time.Second, Misses: 5})
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

// startServerB is startServer for benchmarks.
func startServerB(b *testing.B) *servertest.Server {
	return servertest.NewServer(b, server.Config{Heartbeat: time.Second, Misses: 5})
}
