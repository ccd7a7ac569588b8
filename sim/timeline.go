package sim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/p2plab/p2plab/api"
)

// TimelineEntry is one line of timeline.jsonl: a step, a client event, a
// lab event (fault, start, exit) or a note, with its time.
type TimelineEntry struct {
	Time   time.Time  `json:"time"`
	Kind   string     `json:"kind"` // "step", "event", "lab", "expect", "note"
	Host   string     `json:"host,omitempty"`
	Step   int        `json:"step,omitempty"`
	Detail string     `json:"detail,omitempty"`
	Event  *api.Event `json:"event,omitempty"`
}

// timeline appends entries to a JSON lines file. Safe for concurrent use.
type timeline struct {
	mu sync.Mutex
	f  *os.File
	w  *bufio.Writer
}

func newTimeline(path string) (*timeline, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("sim: timeline: %w", err)
	}
	return &timeline{f: f, w: bufio.NewWriter(f)}, nil
}

func (t *timeline) add(e TimelineEntry) {
	if t == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.w == nil {
		return
	}
	t.w.Write(b)
	t.w.WriteByte('\n')
}

func (t *timeline) flush() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.w != nil {
		t.w.Flush()
	}
}

func (t *timeline) close() error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.w == nil {
		return nil
	}
	err := t.w.Flush()
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	t.w = nil
	return err
}
