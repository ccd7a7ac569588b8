package conform_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/p2plab/p2plab/conform"
)

// The reference server started on a netns lab host, checked from another
// lab host, passes every server requirement.
func TestReferenceServerInLab(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the netns lab needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ls, target, err := conform.StartServerInLab(ctx, p2plabBin+" server --listen {listen} --admin {admin} --heartbeat {heartbeat} --misses {misses}", testHeartbeat, testMisses)
	if ls != nil {
		t.Cleanup(func() {
			if err := ls.Close(); err != nil {
				t.Errorf("lab close: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	if target.Addr.Addr().IsLoopback() || !target.Addr.Addr().Is4() || target.Admin == "" {
		t.Fatalf("target %+v is not a lab address", target)
	}
	target.CheckTimeout = testCheckTimeout
	results := conform.RunServer(ctx, target, conform.Catalogue(conform.RoleServer), nil)
	if bad, text := notPassed(results); len(bad) > 0 {
		t.Fatalf("the reference server in the lab does not pass:\n%s\nserver output:\n%s", text, ls.Output())
	}
}

// The reference client started on a netns lab host, with the reference
// server and the fake peers on two other hosts, passes every client
// requirement.
func TestReferenceClientInLab(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the netns lab needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lc, target, err := conform.StartClientLab(ctx, p2plabBin+" server --listen {listen} --heartbeat {heartbeat} --misses {misses}", referenceClient(), testClientHeartbeat, 3)
	if lc != nil {
		t.Cleanup(func() {
			if err := lc.Close(); err != nil {
				t.Errorf("lab close: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	target.CheckTimeout = testCheckTimeout
	target.Dir = shortTempDir(t)
	results, err := conform.RunClient(ctx, target, conform.Catalogue(conform.RoleClient), nil)
	if err != nil {
		t.Fatal(err)
	}
	if bad, text := notPassed(results); len(bad) > 0 {
		t.Fatalf("the reference client in the lab does not pass:\n%s", text)
	}
}
