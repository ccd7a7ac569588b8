package bench

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/sim"
)

// Teardown benchmark shape: heartbeat 200 ms x 3 misses on every program,
// teardownClients clients in a full mesh, teardownTrials faults per mode.
const (
	teardownHeartbeat = 200 * time.Millisecond
	teardownMisses    = 3
	teardownClients   = 6
	teardownTrials    = 10
)

// BenchmarkTeardown measures heartbeat-driven teardown: a client is frozen
// (cgroup freezer) or cut (links down), and the benchmark records, at every
// other client, the time from the fault being in force to the server's
// offline notice (user_offline) and to that client closing its channel to
// the victim (channel_closed, whatever the reason). The times are the
// clients' own event times. After each trial the fault is undone and the
// victim is back online with a full mesh before the next trial (a victim
// that does not come back in time is restarted).
// The floor is interval x misses (600 ms); the goal is p99 within
// interval x (misses+1) (800 ms).
func BenchmarkTeardown(b *testing.B) {
	for _, mode := range []string{"freeze", "cut"} {
		b.Run("fault="+mode, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			lab, users := startLab(b, ctx, labOpts{clients: teardownClients, heartbeat: teardownHeartbeat, misses: teardownMisses,
				clientCmd: os.Getenv("P2PLAB_BENCH_CLIENT_CMD")})
			if err := lab.StartAll(ctx); err != nil {
				b.Fatal(err)
			}
			if _, err := waitMesh(ctx, lab, users, time.Minute); err != nil {
				b.Fatal(err)
			}
			var offline, closed []time.Duration
			reasons := map[string]int{}
			trials := teardownTrials * b.N
			for i := range trials {
				victim := users[i%len(users)]
				off, cl, rs, err := teardownTrial(ctx, lab, users, victim, mode)
				if err != nil {
					b.Fatalf("trial %d (%s %s): %v", i, mode, victim, err)
				}
				offline = append(offline, off...)
				closed = append(closed, cl...)
				for k, v := range rs {
					reasons[k] += v
				}
			}
			do, dc := Distribution(offline), Distribution(closed)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(Ms(do.P50), "ms-offline-p50")
			b.ReportMetric(Ms(do.P99), "ms-offline-p99")
			b.ReportMetric(Ms(do.Max), "ms-offline-max")
			b.ReportMetric(Ms(dc.P50), "ms-closed-p50")
			b.ReportMetric(Ms(dc.P99), "ms-closed-p99")
			b.ReportMetric(Ms(dc.Max), "ms-closed-max")
			b.ReportMetric(float64(do.N), "samples")
			b.ReportMetric(Load1(), "load1")
			b.Logf("%s: %d trials, offline notice min/p50/p99/max %s/%s/%s/%s; channel closed %s/%s/%s/%s; close reasons %v; load %s",
				mode, trials, do.Min, do.P50, do.P99, do.Max, dc.Min, dc.P50, dc.P99, dc.Max, reasons, LoadAvg())
		})
	}
}

// teardownTrial applies one fault to victim and returns, per other client,
// the delay to its user_offline and channel_closed events.
func teardownTrial(ctx context.Context, lab *sim.Lab, users []string, victim, mode string) (off, cl []time.Duration, reasons map[string]int, err error) {
	h := lab.Host(victim)
	var undo netlab.Undo
	switch mode {
	case "freeze":
		undo, err = h.Freeze(ctx)
	case "cut":
		undo, err = h.Cut(ctx)
	}
	since := lab.Mark() // the fault is in force from here
	if undo != nil {
		defer func() {
			if uerr := undo(ctx); uerr != nil && err == nil {
				err = uerr
			}
			if err == nil {
				err = recoverVictim(ctx, lab, users, victim)
			}
		}()
	}
	if err != nil {
		return nil, nil, nil, err
	}
	reasons = map[string]int{}
	limit := 10 * teardownHeartbeat * teardownMisses // far beyond any goal: a bound, not a check
	for _, u := range users {
		if u == victim {
			continue
		}
		c := lab.Client(u)
		e, werr := c.WaitEvent(ctx, since, sim.Match{Type: api.EventUserOffline, UserID: victim}, limit)
		if werr != nil {
			return nil, nil, nil, werr
		}
		off = append(off, e.Time.Sub(since.Time))
		e, werr = c.WaitEvent(ctx, since, sim.Match{Type: api.EventChannelClosed, Peer: victim}, limit)
		if werr != nil {
			return nil, nil, nil, werr
		}
		cl = append(cl, e.Time.Sub(since.Time))
		reasons[e.Reason]++
	}
	return off, cl, reasons, nil
}

// recoverVictim waits until the victim is online again with a full mesh;
// if it is not within 15 s it is restarted.
func recoverVictim(ctx context.Context, lab *sim.Lab, users []string, victim string) error {
	if err := waitFullMesh(ctx, lab, users, 15*time.Second); err == nil {
		return nil
	}
	c := lab.Client(victim)
	if c.Running() {
		if err := c.Kill(ctx); err != nil {
			return err
		}
	}
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("restart %s: %w", victim, err)
	}
	return waitFullMesh(ctx, lab, users, 30*time.Second)
}

// waitFullMesh polls GET /v1/channels at every client until each has a
// channel to every other user (bounded by limit).
func waitFullMesh(ctx context.Context, lab *sim.Lab, users []string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		err := checkChannels(ctx, lab, users)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: no full mesh within %s: %v", limit, err)
		case <-t.C:
		}
	}
}
