package leaktest

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestFindReportsABlockedGoroutineAndForgetsItOnceDone(t *testing.T) {
	before := goleak.IgnoreCurrent()
	stop := make(chan struct{})
	go parked(stop)
	err := Find(50*time.Millisecond, before)
	if err == nil || !strings.Contains(err.Error(), "leaktest.parked") {
		t.Fatalf("want the goroutine started here reported, got %v", err)
	}
	close(stop)
	if err := Find(2*time.Second, before); err != nil {
		t.Fatalf("goroutine ended but still reported: %v", err)
	}
}

func TestFindIgnoresWhatWasRunningBefore(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	go parked(stop)
	if err := Find(20*time.Millisecond, goleak.IgnoreCurrent()); err != nil {
		t.Fatalf("goroutine from before reported: %v", err)
	}
}

func parked(stop chan struct{}) { <-stop }
