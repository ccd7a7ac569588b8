package conform_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/p2plab/p2plab/conform"
)

// A whole server run leaves no goroutine of the checker behind: every
// session, keep-alive and admin client is closed when its check ends.
func TestServerRunLeavesNoGoroutines(t *testing.T) {
	target := referenceServer(t)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reqs, err := conform.Select(conform.Catalogue(conform.RoleServer), []string{"server/2.1", "server/5.4", "server/5.5", "server/5.6", "server/5.7"})
	if err != nil {
		t.Fatal(err)
	}
	results := conform.RunServer(ctx, target, reqs, nil)
	if bad, text := notPassed(results); len(bad) > 0 {
		t.Fatalf("reference server:\n%s", text)
	}
	waitGoroutines(t, before)
}

// A client run (fake peers, control API clients, client processes) leaves
// no goroutine behind either.
func TestClientRunLeavesNoGoroutines(t *testing.T) {
	target := clientTarget(t, nil)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reqs, err := conform.Select(conform.Catalogue(conform.RoleClient), []string{"client/6.3", "client/6.4", "client/6.6", "client/6.9", "client/api"})
	if err != nil {
		t.Fatal(err)
	}
	results, err := conform.RunClient(ctx, target, reqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bad, text := notPassed(results); len(bad) > 0 {
		t.Fatalf("reference client:\n%s", text)
	}
	waitGoroutines(t, before)
}

// waitGoroutines polls, up to a deadline, until no more goroutines run than
// before (the server's per-connection goroutines end asynchronously).
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for runtime.NumGoroutine() > before {
		select {
		case <-ctx.Done():
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after the run, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		case <-tick.C:
		}
	}
}
