package conform_test

import (
	"context"
	"testing"
	"time"

	"github.com/p2plab/p2plab/conform"
	"github.com/p2plab/p2plab/server"
	"github.com/p2plab/p2plab/server/servertest"
)

// With --misses 1 a session that only answers the server's Heartbeats is
// on the edge of its liveness period (docs/protocol.md 5.8 rule 1): the
// reference server must still pass every heartbeat check, because the
// checker's sessions keep themselves alive.
func TestReferenceServerMisses1(t *testing.T) {
	parallelShort(t)
	const hb = 300 * time.Millisecond
	s := servertest.NewServer(t, server.Config{Heartbeat: hb, Misses: 1})
	target := conform.ServerTarget{Addr: s.Addr, Admin: s.AdminAddr.String(), Heartbeat: hb, Misses: 1, CheckTimeout: testCheckTimeout}
	reqs, err := conform.Select(conform.Catalogue(conform.RoleServer), []string{"server/5.8/*", "server/5.9/*"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for range 3 {
		if bad, text := notPassed(conform.RunServer(ctx, target, reqs, nil)); len(bad) > 0 {
			t.Fatalf("the reference server with --misses 1 does not pass:\n%s", text)
		}
	}
}
