package client

import (
	"strings"
	"testing"

	"github.com/p2plab/p2plab/api"
)

// TestEventsBoundedByBytes: 300 events of 1 MB content do not keep 300 MB
// (issue: events were bounded by count only); the newest stay, seq numbers
// run on.
func TestEventsBoundedByBytes(t *testing.T) {
	l := newEventLog()
	big := strings.Repeat("x", 1<<20)
	for range 300 {
		l.add(api.Event{Type: api.EventChatReceived, Content: big})
	}
	if l.bytes > maxEventBytes {
		t.Fatalf("%d bytes of events kept, want at most %d", l.bytes, maxEventBytes)
	}
	evs, _ := l.after(0, maxEvents)
	if len(evs) == 0 || evs[len(evs)-1].Seq != 300 || len(evs) > maxEventBytes/(1<<20) {
		t.Fatalf("kept %d events ending at seq %d", len(evs), evs[len(evs)-1].Seq)
	}
	sum := 0
	for _, e := range evs {
		sum += eventSize(e)
	}
	if sum != l.bytes {
		t.Fatalf("byte count %d, events hold %d", l.bytes, sum)
	}
}

// TestEventsAnswerBoundedByBytes: one GET /v1/events answer holds at most
// maxAnswerBytes of events (the caller asks again for the rest), but always
// at least one; before this bound one answer held all 64 MiB.
func TestEventsAnswerBoundedByBytes(t *testing.T) {
	l := newEventLog()
	big := strings.Repeat("x", 1<<20)
	for range 30 {
		l.add(api.Event{Type: api.EventChatReceived, Content: big})
	}
	evs := l.wait(t.Context(), 0, 0, maxEvents)
	sum := 0
	for _, e := range evs {
		sum += eventSize(e)
	}
	if len(evs) == 0 || sum > maxAnswerBytes || len(evs) == 30 {
		t.Fatalf("one answer: %d events, %d bytes, want at most %d bytes", len(evs), sum, maxAnswerBytes)
	}
	huge := newEventLog()
	huge.add(api.Event{Type: api.EventChatReceived, Content: strings.Repeat("x", 2*maxAnswerBytes)})
	if evs := huge.wait(t.Context(), 0, 0, maxEvents); len(evs) != 1 {
		t.Fatalf("an event bigger than the bound: %d answered, want 1", len(evs))
	}
}
