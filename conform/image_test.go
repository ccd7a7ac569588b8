package conform_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/p2plab/p2plab/conform"
	"github.com/p2plab/p2plab/netlab/docker"
)

// A server under test given as a Docker image (here: the reference server
// in an image of its own, started with a command line) runs on a docker lab
// host and passes the framing, login and relay requirements checked from
// another container.
func TestServerImage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the docker lab needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := docker.Available(ctx); err != nil {
		t.Skipf("no Docker engine answers: %v", err)
	}
	bin, err := docker.BuildBinary(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	img, err := docker.BuildImage(ctx, bin)
	t.Cleanup(func() {
		if err := img.Remove(context.Background()); err != nil {
			t.Errorf("remove image: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	ls, target, err := conform.StartServerImage(ctx, img.Tag,
		docker.BinaryPath+" server --listen {listen} --admin {admin} --heartbeat {heartbeat} --misses {misses}",
		bin, testHeartbeat, testMisses)
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
	if target.Addr.Addr().IsLoopback() || target.Admin == "" {
		t.Fatalf("target %+v is not a lab address with an admin API", target)
	}
	target.CheckTimeout = testCheckTimeout
	reqs, err := conform.Select(conform.Catalogue(conform.RoleServer), []string{"server/2.*", "server/4.*", "server/5.4/*", "server/5.5/*"})
	if err != nil {
		t.Fatal(err)
	}
	results := conform.RunServer(ctx, target, reqs, nil)
	if len(results) == 0 {
		t.Fatal("no requirement selected")
	}
	if bad, text := notPassed(results); len(bad) > 0 {
		t.Fatalf("the reference server image does not pass:\n%s\nserver output:\n%s", text, ls.Output())
	}
}
