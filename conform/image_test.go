package conform_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/p2plab/p2plab/conform"
	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/netlab/docker" // registers the docker backend
)

// Implementations under test given as Docker images (here: the reference
// programs in an image of their own, started with a command line) run on
// docker lab hosts and pass the checks made from other containers.
func TestImages(t *testing.T) {
	parallelShort(t)
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
	t.Run("server", func(t *testing.T) { serverImage(t, ctx, img, bin) })
	t.Run("client", func(t *testing.T) { clientImage(t, ctx, img, bin) })
}

// serverImage checks framing, login and relay rules of the server image.
func serverImage(t *testing.T, ctx context.Context, img *docker.Image, bin string) {
	ls, target, err := conform.StartServerLab(ctx, conform.LabOptions{Backend: netlab.BackendDocker, Image: img.Tag,
		Command: docker.BinaryPath + " server --listen {listen} --admin {admin} --heartbeat {heartbeat} --misses {misses}",
		Binary:  bin, Heartbeat: testHeartbeat, Misses: testMisses})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ls.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
	})
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

// clientImage checks channel, ack, log and control API rules of clients
// started from the image, with its paths mapped into the host's mount.
func clientImage(t *testing.T, ctx context.Context, img *docker.Image, bin string) {
	lc, target, err := conform.StartClientLab(ctx, conform.LabOptions{Backend: netlab.BackendDocker, Image: img.Tag,
		Command: docker.BinaryPath + " client --server {server} --user {user} --control {control} --log {log} --files {files} --heartbeat {heartbeat} --misses {misses}",
		Binary:  bin, Heartbeat: testClientHeartbeat, Misses: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lc.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
	})
	target.CheckTimeout = testCheckTimeout
	reqs, err := conform.Select(conform.Catalogue(conform.RoleClient), []string{"client/6.3/*", "client/6.5/*", "client/6.6/ack", "client/7.2/*", "client/api/*"})
	if err != nil {
		t.Fatal(err)
	}
	results, err := conform.RunClient(ctx, target, reqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatal("no requirement selected")
	}
	if bad, text := notPassed(results); len(bad) > 0 {
		t.Fatalf("the reference client image does not pass:\n%s", text)
	}
}
