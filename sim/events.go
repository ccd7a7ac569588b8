package sim

import (
	"context"
	"sync"
	"time"

	"github.com/p2plab/p2plab/api"
)

// EventLog is what a client program reported on its control API's event
// stream (GET /v1/events, docs/control-api.md), in order, collected by
// Follow. Waiters learn of new events from Changed. The zero value is
// ready to use; one log may span several runs of a program.
type EventLog struct {
	mu      sync.Mutex
	events  []api.Event
	changed chan struct{} // closed and replaced when events grow
}

// Follow long-polls ac's events until ctx ends or done is closed (the
// program exited), appending each new one (and handing it to onEvent, if
// not nil, under the log's lock: it must not block). The caller owns the
// goroutine that runs it. Seqs restart with each run of a program: Follow
// counts from the start of the run it follows.
func (l *EventLog) Follow(ctx context.Context, ac *api.Client, done <-chan struct{}, onEvent func(api.Event)) {
	var after int64
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		evs, err := ac.Events(rctx, after, time.Second)
		cancel()
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-time.After(100 * time.Millisecond): // retry pace, not synchronisation
			}
			continue
		}
		l.mu.Lock()
		grew := false
		for _, e := range evs {
			if e.Seq <= after {
				continue
			}
			after = e.Seq
			l.events = append(l.events, e)
			grew = true
			if onEvent != nil {
				onEvent(e)
			}
		}
		if grew && l.changed != nil {
			close(l.changed)
			l.changed = nil
		}
		l.mu.Unlock()
	}
}

// Len is how many events the log holds.
func (l *EventLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

// From returns a copy of the events from index i on.
func (l *EventLog) From(i int) []api.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]api.Event(nil), l.events[min(max(i, 0), len(l.events)):]...)
}

// Changed returns a channel closed when the log grows.
func (l *EventLog) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return l.changed
}

// Wait returns the first event from index i on that pred accepts, waiting
// for new ones until ctx ends (ok false then).
func (l *EventLog) Wait(ctx context.Context, i int, pred func(api.Event) bool) (e api.Event, ok bool) {
	for {
		ch := l.Changed()
		for _, e := range l.From(i) {
			if pred(e) {
				return e, true
			}
		}
		select {
		case <-ctx.Done():
			return api.Event{}, false
		case <-ch:
		}
	}
}
