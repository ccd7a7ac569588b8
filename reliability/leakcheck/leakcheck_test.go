package leakcheck

import (
	"strings"
	"testing"
	"time"
)

func TestLeakedFindsABlockedGoroutineAndForgetsItOnceDone(t *testing.T) {
	before := Snapshot()
	stop := make(chan struct{})
	go func() { <-stop }()
	gs := Leaked(before, Options{Grace: 50 * time.Millisecond})
	if len(gs) != 1 || !strings.Contains(gs[0].Stack, "leakcheck.TestLeakedFinds") {
		t.Fatalf("want the one goroutine started here, got %d:\n%s", len(gs), Report(gs))
	}
	close(stop)
	if gs := Leaked(before, Options{Grace: 2 * time.Second}); len(gs) != 0 {
		t.Fatalf("goroutine ended but still reported:\n%s", Report(gs))
	}
}

func TestIgnoreOption(t *testing.T) {
	before := Snapshot()
	stop := make(chan struct{})
	defer close(stop)
	go parked(stop)
	if gs := Leaked(before, Options{Grace: 20 * time.Millisecond, Ignore: []string{"leakcheck.parked"}}); len(gs) != 0 {
		t.Fatalf("ignored goroutine reported:\n%s", Report(gs))
	}
}

func parked(stop chan struct{}) { <-stop }
