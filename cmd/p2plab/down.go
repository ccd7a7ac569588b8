package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/netlab/docker"
)

func init() {
	register("down", "stop labs that `p2plab up` (or another run) keeps up", runDown)
}

// runDown stops live labs: the given run ids, or else every lab held by a
// `p2plab up` process. It asks the owning process to stop (SIGTERM, so it
// removes its own lab), waits for it, and removes what is left of a run
// whose owner did not finish in time.
func runDown(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: p2plab down [--wait DUR] [RUNID...]\n\n"+
			"Stops the labs with these run ids, or else every lab that `p2plab up`\n"+
			"keeps up. `p2plab clean` removes what crashed runs left behind.\n\nflags:\n")
		fs.PrintDefaults()
	}
	wait := fs.Duration("wait", 30*time.Second, "how long each lab's process gets to remove its lab")
	ids, err := parseFlags(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	runs, err := netlab.LiveRuns()
	if err != nil {
		fmt.Fprintln(os.Stderr, "p2plab down:", err)
		return 1
	}
	var targets []netlab.LiveRun
	for _, r := range runs {
		if len(ids) > 0 && slices.Contains(ids, r.ID) || len(ids) == 0 && isUp(r.PID) {
			targets = append(targets, r)
		}
	}
	for _, id := range ids {
		if !slices.ContainsFunc(targets, func(r netlab.LiveRun) bool { return r.ID == id }) {
			fmt.Fprintf(os.Stderr, "p2plab down: no live lab %s\n", id)
			return 1
		}
	}
	if len(targets) == 0 {
		fmt.Println("p2plab down: no lab kept up by p2plab up")
		return 0
	}
	code := 0
	for _, r := range targets {
		if err := stopRun(ctx, r, *wait); err != nil {
			fmt.Fprintf(os.Stderr, "p2plab down: %s: %v\n", r.ID, err)
			code = 1
			continue
		}
		fmt.Printf("p2plab down: lab %s removed\n", r.ID)
	}
	return code
}

// isUp reports whether pid is a `p2plab up` process.
func isUp(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(argv) < 2 || argv[1] != "up" {
		return false
	}
	if strings.HasSuffix(argv[0], "p2plab") {
		return true
	}
	// A renamed build (e.g. a patched binary kept beside the usual one)
	// is recognised by being this very executable.
	self, err1 := os.Stat("/proc/self/exe")
	other, err2 := os.Stat(fmt.Sprintf("/proc/%d/exe", pid))
	return err1 == nil && err2 == nil && os.SameFile(self, other)
}

// stopRun asks the lab's process to stop and waits until the lab is gone;
// past the wait it removes the lab's leftovers itself.
func stopRun(ctx context.Context, r netlab.LiveRun, wait time.Duration) error {
	if r.PID > 0 {
		if err := syscall.Kill(r.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("signal process %d: %w", r.PID, err)
		}
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for netlab.RunAlive(r.ID) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			if r.PID > 0 {
				_ = syscall.Kill(r.PID, syscall.SIGKILL)
			}
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			_, err := netlab.CleanRun(cctx, r.ID)
			if derr := docker.Available(cctx); derr == nil {
				_, dErr := docker.CleanRun(cctx, r.ID)
				err = errors.Join(err, dErr)
			}
			if err != nil {
				return fmt.Errorf("process %d did not stop within %s; removing its lab: %w", r.PID, wait, err)
			}
			return nil
		case <-tick.C:
		}
	}
	return nil
}
