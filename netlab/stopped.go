package netlab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/prometheus/procfs"
)

// errNotStopped is why waitStopped keeps polling: a thread of the group
// still runs.
var errNotStopped = errors.New("a thread still runs")

// waitStopped returns once every thread of every process in the process
// groups pgids is stopped (or gone), polling /proc every millisecond for up
// to 5 s. kill(2) with SIGSTOP only queues the stop: a thread running on
// another CPU goes on until it next enters the kernel, and a freeze that
// returned earlier would let a program answer after "freeze" (a fault step
// must be in force when it returns).
func waitStopped(ctx context.Context, pgids []int) error {
	if len(pgids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	fsys, err := procfs.NewDefaultFS()
	if err != nil {
		return fmt.Errorf("wait for stop: %w", err)
	}
	want := map[int]bool{}
	for _, g := range pgids {
		want[g] = true
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		err := groupsStopped(fsys, want)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errNotStopped) {
			return fmt.Errorf("wait for stop: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for stop of process groups %v: %w (%w)", pgids, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// groupsStopped returns nil when no thread of a process in the groups
// runs, errNotStopped (wrapped, naming the thread) when one does.
func groupsStopped(fsys procfs.FS, groups map[int]bool) error {
	procs, err := fsys.AllProcs()
	if err != nil {
		return err
	}
	for _, p := range procs {
		st, err := p.Stat()
		if err != nil {
			continue // gone since the listing
		}
		if !groups[st.PGRP] {
			continue
		}
		threads, err := fsys.AllThreads(p.PID)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return err
		}
		for _, th := range threads {
			ts, err := th.Stat()
			if err != nil {
				continue // the thread ended
			}
			if !stoppedState(ts.State) {
				return fmt.Errorf("pid %d thread %d in state %s: %w", p.PID, th.PID, ts.State, errNotStopped)
			}
		}
	}
	return nil
}

// stoppedState reports whether a /proc stat state letter means the thread
// runs no more: stopped (T), traced (t), zombie (Z) or dead (X).
func stoppedState(s string) bool {
	switch s {
	case "T", "t", "Z", "X", "x":
		return true
	}
	return false
}
