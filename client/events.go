package client

import (
	"context"
	"sync"
	"time"

	"github.com/p2plab/p2plab/api"
)

// maxEvents bounds the events kept in memory; the oldest are dropped first
// (their seq numbers are never reused).
const maxEvents = 100000

// maxEventBytes bounds the events kept in memory by size too (chat content
// is up to 512 KiB each): past it the oldest events are dropped until half
// of it is left.
const maxEventBytes = 64 << 20

// maxAnswerBytes bounds one GET /v1/events answer by the events' size (at
// least one event is always answered): a client asked for all of 64 MiB of
// big chats answers a part at a time (docs/control-api.md).
const maxAnswerBytes = 8 << 20

// eventSize is what an event costs to keep, roughly.
func eventSize(e api.Event) int {
	return 256 + len(e.Content) + len(e.Path) + len(e.Name) + len(e.Reason)
}

// eventLog is the ordered, long-pollable list of events served by
// GET /v1/events. Seq numbers start at 1 and increase by one.
type eventLog struct {
	mu     sync.Mutex
	events []api.Event
	seq    int64
	bytes  int           // eventSize of the events kept
	wake   chan struct{} // closed and replaced on every new event
}

func newEventLog() *eventLog { return &eventLog{wake: make(chan struct{})} }

// add appends e, stamping Seq and Time, and wakes long-pollers.
func (l *eventLog) add(e api.Event) api.Event {
	l.mu.Lock()
	l.seq++
	e.Seq = l.seq
	e.Time = time.Now().UTC()
	l.events = append(l.events, e)
	l.bytes += eventSize(e)
	drop := 0
	if len(l.events) > maxEvents {
		drop = len(l.events) - maxEvents/2
	}
	if l.bytes > maxEventBytes {
		for left := l.bytes; drop < len(l.events)-1 && left > maxEventBytes/2; drop++ {
			left -= eventSize(l.events[drop])
		}
	}
	if drop > 0 {
		for _, old := range l.events[:drop] {
			l.bytes -= eventSize(old)
		}
		l.events = append([]api.Event(nil), l.events[drop:]...)
	}
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
	return e
}

// after returns up to limit events with Seq > seq, and a channel closed when
// a newer event arrives.
func (l *eventLog) after(seq int64, limit int) ([]api.Event, <-chan struct{}) {
	return l.afterBytes(seq, limit, 0)
}

// afterBytes is after with the events' sizes summing to at most maxBytes
// (0: no bound), though always at least one event.
func (l *eventLog) afterBytes(seq int64, limit, maxBytes int) ([]api.Event, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []api.Event{}
	// events are sorted by Seq: find the first one after seq.
	i := 0
	if n := len(l.events); n > 0 {
		first := l.events[0].Seq
		if seq >= first {
			i = int(seq - first + 1)
		}
		if i > n {
			i = n
		}
	}
	size := 0
	for ; i < len(l.events) && len(out) < limit; i++ {
		if size += eventSize(l.events[i]); maxBytes > 0 && size > maxBytes && len(out) > 0 {
			break
		}
		out = append(out, l.events[i])
	}
	return out, l.wake
}

// wait returns the events after seq, waiting up to d for at least one; at
// most maxAnswerBytes of them (one answer of GET /v1/events).
func (l *eventLog) wait(ctx context.Context, seq int64, d time.Duration, limit int) []api.Event {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		evs, wake := l.afterBytes(seq, limit, maxAnswerBytes)
		if len(evs) > 0 || d <= 0 {
			return evs
		}
		select {
		case <-wake:
		case <-deadline.C:
			evs, _ = l.afterBytes(seq, limit, maxAnswerBytes)
			return evs
		case <-ctx.Done():
			return evs
		}
	}
}
