package netlab

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Flap is a link flap fault: the host's links go down for Down, come back
// for Up, Count times (configuration; see Host.Flap).
type Flap struct {
	Down  time.Duration `json:"down" yaml:"down"`
	Up    time.Duration `json:"up" yaml:"up"`
	Count int           `json:"count" yaml:"count"`
}

// ErrBadFlap is the error of a Flap that cannot be run.
var ErrBadFlap = errors.New("bad flap")

// MaxFlapCount is the most cycles a Flap may ask for.
const MaxFlapCount = 10000

// Validate refuses a flap whose Down or Up is outside 1ms-1h or whose
// Count is outside 1-MaxFlapCount; the error names the field.
func (f Flap) Validate() error {
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"down", f.Down}, {"up", f.Up}} {
		if d.v < time.Millisecond || d.v > time.Hour {
			return fmt.Errorf("%s: %v is outside 1ms-1h: %w", d.field, d.v, ErrBadFlap)
		}
	}
	if f.Count < 1 || f.Count > MaxFlapCount {
		return fmt.Errorf("count: %d is outside 1-%d: %w", f.Count, MaxFlapCount, ErrBadFlap)
	}
	return nil
}

// Flapping is a Flap in progress.
type Flapping struct {
	done   chan struct{}
	cancel context.CancelFunc
	err    error // set before done closes
	undo   Undo
}

// Done is closed when the flap has ended (all cycles run, or undone), with
// the links up again.
func (f *Flapping) Done() <-chan struct{} { return f.done }

// Wait waits for the flap to end and returns the first error it met.
func (f *Flapping) Wait(ctx context.Context) error {
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Undo stops the flap early and leaves the links up. Calling it twice, or
// after the flap ended, is harmless.
func (f *Flapping) Undo(ctx context.Context) error { return f.undo(ctx) }

// Flap takes the host's links down and up again in the background (each
// down is a Cut, with its events), Count times: down for Down, then up for
// Up (counted from when the links are operationally up again). It returns
// at once; the lab stops a flap still running on Close.
func (h *Host) Flap(ctx context.Context, f Flap) (*Flapping, error) {
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("netlab: flap %s: %w", h.Name(), err)
	}
	// refuse at once where links cannot be cut (the local backend answers
	// ErrNotSupported), not in the background
	ns, err := h.lab.b.NetNS(ctx, h.spec.Name)
	if err != nil {
		return nil, fmt.Errorf("netlab: flap %s: %w", h.Name(), err)
	}
	ns.Close()
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	fl := &Flapping{done: make(chan struct{}), cancel: cancel}
	detail := fmt.Sprintf("down %v, up %v, %d times", f.Down, f.Up, f.Count)
	h.lab.event(h.Name(), "flap", detail)
	var once sync.Once
	fl.undo = h.lab.addFault(h.Name(), "flap-end", detail, func(context.Context) error {
		once.Do(cancel)
		<-fl.done
		return fl.err
	})
	go func() {
		fl.err = h.flap(fctx, f)
		close(fl.done)
		// a flap that ran to its end is no longer in force
		_ = fl.undo(context.Background())
	}()
	return fl, nil
}

// flap runs the cycles until done or ctx ends; the links are up when it
// returns.
func (h *Host) flap(ctx context.Context, f Flap) error {
	sleep := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for i := 0; i < f.Count && ctx.Err() == nil; i++ {
		undo, err := h.Cut(ctx)
		if err != nil {
			return err
		}
		sleep(f.Down)
		// restore on a context of its own: a stopped flap still brings
		// the links back
		if err := undo(context.WithoutCancel(ctx)); err != nil {
			return err
		}
		if i < f.Count-1 && !sleep(f.Up) {
			break
		}
	}
	return nil
}
