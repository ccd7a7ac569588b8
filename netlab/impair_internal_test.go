package netlab

import (
	"context"
	"testing"
	"time"

	"github.com/p2plab/p2plab/internal/leaktest"
	"go.uber.org/goleak"
)

// TestImpairUndoLeavesNothing: an impairment's undo removes its tables and
// stops its goroutines (queue readers, schedulers), with packets held at
// that moment let go rather than lost.
func TestImpairUndoLeavesNothing(t *testing.T) {
	// registered first, so it runs after the lab's cleanups
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		if err := leaktest.Find(leaktest.Grace, before); err != nil {
			t.Error(err)
		}
	})
	lab, a, b, _ := queueLab(t, "198.18.85.0/24")
	ctx := context.Background()
	tx, rx := udpPair(t, a, b, 9200)
	undo, err := a.Impair(ctx, "", Impairment{Delay: 300 * time.Millisecond, Duplicate: 50})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := lab.b.NetNS(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if ts, err := nftTables(ns, lab.id+"-imp"); err != nil || len(ts) != 2 {
		t.Fatalf("tables %v, %v: want one per direction", ts, err)
	}
	for range 5 {
		if _, err := tx.Write([]byte("held")); err != nil {
			t.Fatal(err)
		}
	}
	// undo while the five are held (300 ms): they go at once
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	if got := receiveAll(rx, time.Second); len(got) != 5 {
		t.Errorf("received %d of the 5 datagrams held when the impairment ended, want 5 (copies not sent)", len(got))
	}
	if ts, err := nftTables(ns, lab.id+"-imp"); err != nil || len(ts) != 0 {
		t.Fatalf("after undo: tables %v, %v", ts, err)
	}
}
