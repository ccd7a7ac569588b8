package conform

import (
	"context"
	"time"
)

// pollEvery is the pace of polling loops (always bounded by a deadline).
const pollEvery = 20 * time.Millisecond

// poll calls fn every pollEvery until it reports done, fails, or ctx ends;
// it returns ctx's error in the last case.
func poll(ctx context.Context, fn func() (done bool, err error)) error {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		done, err := fn()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
