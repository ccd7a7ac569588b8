package conform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/p2plab/p2plab/sim"
)

// runID returns a short random token that keeps the userIDs of one run apart
// from those of any other run against the same server.
func runID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// closers collects what a check opened, closed when the check ends.
type closers struct {
	mu  sync.Mutex
	fns []func()
}

func (c *closers) add(f func()) {
	c.mu.Lock()
	c.fns = append(c.fns, f)
	c.mu.Unlock()
}

// closeAll runs the closers in reverse order, including any added while it
// runs.
func (c *closers) closeAll() {
	for {
		c.mu.Lock()
		fns := c.fns
		c.fns = nil
		c.mu.Unlock()
		if len(fns) == 0 {
			return
		}
		for i := len(fns) - 1; i >= 0; i-- {
			fns[i]()
		}
	}
}

// runOne runs check under a deadline. A check that overruns its deadline by
// more than grace is abandoned (its connections are closed, which ends it)
// and reported as an error, so one broken check never hangs a run.
func runOne(ctx context.Context, r Requirement, timeout time.Duration, check func(ctx context.Context) error, cl *closers) Result {
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				errc <- fmt.Errorf("conform: check panicked: %v\n%s", p, debug.Stack())
			}
		}()
		errc <- check(cctx)
	}()
	const grace = 2 * time.Second
	var err error
	select {
	case err = <-errc:
	case <-time.After(timeout + grace):
		cl.closeAll()
		err = fmt.Errorf("conform: check did not return within %v", timeout+grace)
		select {
		case <-errc:
		case <-time.After(grace):
		}
	}
	cl.closeAll()
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("conform: run cancelled: %w", ctx.Err())
	}
	return resultOf(r, err, time.Since(start).Round(time.Millisecond))
}

// checkTimeout is the deadline of r's check: its own Timeout, else the
// run's, else DefaultTimeout.
func checkTimeout(r Requirement, run time.Duration) time.Duration {
	switch {
	case r.Timeout > 0:
		return r.Timeout
	case run > 0:
		return run
	}
	return DefaultTimeout
}

// slack is the scheduling delay allowed on top of a timing requirement
// ("within heartbeat*(misses+1)"): a quarter interval plus 250ms.
func slack(heartbeat time.Duration) time.Duration {
	return heartbeat/4 + 250*time.Millisecond
}

// pollEvery is the pace of the checks' polling loops (always bounded by a
// deadline).
const pollEvery = 20 * time.Millisecond

// poll is sim.Poll at the checks' pace: fn until done, an error, or ctx
// ends.
func poll(ctx context.Context, fn func() (done bool, err error)) error {
	return sim.Poll(ctx, pollEvery, fn)
}
