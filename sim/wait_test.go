package sim

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
)

// record appends events to a client as its event follower does.
func record(c *Client, es ...api.Event) {
	l := &c.events
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, es...)
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

func TestWaitEventZeroMark(t *testing.T) {
	c := &Client{user: "alice"}
	old := time.Now().Add(-time.Hour)
	record(c, api.Event{Seq: 1, Type: api.EventLogin, Time: old})
	ctx := context.Background()

	// A zero Mark is every event, and within counts from the call.
	e, err := c.WaitEvent(ctx, Mark{}, Match{Type: api.EventLogin}, 100*time.Millisecond)
	if err != nil || e.Seq != 1 {
		t.Fatalf("an event already there: %+v %v", e, err)
	}
	// An event recorded while the wait runs (or just before: either way
	// it is one of "all events").
	done := make(chan struct{})
	go func() {
		defer close(done)
		record(c, api.Event{Seq: 2, Type: api.EventChatReceived, Time: time.Now()})
	}()
	e, err = c.WaitEvent(ctx, Mark{}, Match{Type: api.EventChatReceived}, time.Second)
	<-done
	if err != nil || e.Seq != 2 {
		t.Fatalf("an event that comes during the wait: %+v %v", e, err)
	}
	start := time.Now()
	_, err = c.WaitEvent(ctx, Mark{}, Match{Type: api.EventLogout}, 100*time.Millisecond)
	if !errors.Is(err, ErrNoEvent) {
		t.Fatalf("no such event: %v, want ErrNoEvent", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond+readGrace+500*time.Millisecond {
		t.Errorf("a wait within 100ms took %s", d)
	}
}

func TestWaitEventJudgesByEventTime(t *testing.T) {
	c := &Client{user: "bob"}
	m := Mark{Time: time.Now().Add(-2 * time.Second), events: map[string]int{}, name: "the last action"}
	// Seen now, but it happened 1.5s after the mark: late for 1s.
	record(c, api.Event{Seq: 1, Type: api.EventChannelClosed, Time: m.Time.Add(1500 * time.Millisecond)})
	_, err := c.WaitEvent(context.Background(), m, Match{Type: api.EventChannelClosed}, time.Second)
	if !errors.Is(err, ErrNoEvent) {
		t.Fatalf("a late event passed: %v", err)
	}
	if _, err := c.WaitEvent(context.Background(), m, Match{Type: api.EventChannelClosed}, 2*time.Second); err != nil {
		t.Fatalf("an event in time, seen late, failed: %v", err)
	}
}

// Every call a wait makes gets a context bounded by the wait's deadline,
// and cancelled when the wait returns.
func TestPollBoundsAndCancelsItsCalls(t *testing.T) {
	w := windowOf(Mark{}, 100*time.Millisecond)
	start := time.Now()
	var calls []context.Context
	err := pollState(context.Background(), w, func(ctx context.Context) error {
		calls = append(calls, ctx)
		if d, ok := ctx.Deadline(); !ok || d.After(w.deadline()) {
			t.Errorf("call deadline %v (set %v), want by %v", d, ok, w.deadline())
		}
		<-ctx.Done() // a call that hangs, like an admin API that does not answer
		return ctx.Err()
	})
	if !errors.Is(err, ErrDeadline) {
		t.Fatalf("err %v, want ErrDeadline", err)
	}
	if d := time.Since(start); d > 600*time.Millisecond {
		t.Errorf("a hanging call stretched a 100ms wait to %s", d)
	}

	var got context.Context
	if err := pollRecord(context.Background(), w, func(ctx context.Context) error { got = ctx; return nil }); err != nil {
		t.Fatal(err)
	}
	if got.Err() == nil {
		t.Error("the wait returned and left its context running (a lost cancel)")
	}
}

func TestPollStateAfterItsDeadline(t *testing.T) {
	w := windowOf(Mark{Time: time.Now().Add(-time.Second), name: "the last action"}, 300*time.Millisecond)
	called := false
	err := pollState(context.Background(), w, func(context.Context) error { called = true; return nil })
	if !errors.Is(err, ErrDeadline) || called {
		t.Fatalf("state read after its deadline: err %v, called %v; want ErrDeadline without a read", err, called)
	}
	for _, want := range []string{"within 300ms of the last action", "after its deadline"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}
