package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/internal/syncbuf"

	"github.com/p2plab/p2plab/netlab"
)

// `p2plab down RUNID` stops a lab that `p2plab up` keeps up: up exits 0
// having removed its lab, and nothing of the run is left to clean. Plain
// `p2plab down` finds the up process itself, also when the binary has
// another name.
func TestDown(t *testing.T) {
	ctx, bin, dir := testBinary(t, true, 3*time.Minute)
	renamed := filepath.Join(dir, "p2plab-patched")
	if err := os.Link(bin, renamed); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, bin string
		byID      bool
	}{
		{"by run id", bin, true},
		{"without a run id, renamed binary", renamed, false},
	} {
		t.Run(tc.name, func(t *testing.T) { testDown(t, ctx, tc.bin, tc.byID) })
	}
}

func testDown(t *testing.T, ctx context.Context, bin string, byID bool) {
	dir := t.TempDir()
	// The flag after the topology: up takes flags anywhere, like run.
	up := exec.Command(bin, "up", "pair", "--artifacts", filepath.Join(dir, "art"))
	out := &syncbuf.Buffer{}
	up.Stdout, up.Stderr = out, out
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()
	t.Cleanup(func() {
		if up.ProcessState == nil {
			_ = up.Process.Kill()
			<-exited
		}
	})

	// Ready: up has printed how to reach the clients and waits for Ctrl-C.
	var id string
	for id == "" || !strings.Contains(out.String(), "Ctrl-C") {
		runs, err := netlab.LiveRuns()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			if r.PID == up.Process.Pid {
				id = r.ID
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("up exited before its lab was ready: %v\n%s", err, out.String())
		case <-ctx.Done():
			t.Fatalf("up not ready before the deadline:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	// Cleanups run last-first: on a failure, stop up before cleaning its
	// run (CleanRun leaves a live run's directory alone).
	t.Cleanup(func() {
		if up.ProcessState == nil {
			_ = up.Process.Kill()
			<-exited
		}
		_, _ = netlab.CleanRun(context.Background(), id)
	})

	args := []string{"down"}
	if byID {
		args = append(args, id)
	}
	if out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil || !strings.Contains(string(out), "lab "+id+" removed") {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("up did not exit cleanly after down: %v\n%s", err, out.String())
		}
	case <-ctx.Done():
		t.Fatal("up still running after down")
	}
	if _, err := os.Stat(filepath.Join(dir, "art")); err != nil {
		t.Fatalf("--artifacts after the topology was not taken: %v", err)
	}
	if netlab.RunAlive(id) {
		t.Fatalf("lab %s still alive after down", id)
	}
	if left, err := netlab.CleanRun(ctx, id); err != nil || len(left) > 0 {
		t.Fatalf("lab %s left %v behind (%v)", id, left, err)
	}
	if out, err := exec.CommandContext(ctx, bin, "down", id).CombinedOutput(); err == nil {
		t.Fatalf("down of a lab that is gone succeeded:\n%s", out)
	}
}
