package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/sim"
)

// The P2P versus relay workload: p2pClients clients, each sending
// p2pPerPeer chats to every other client through its control API.
const (
	p2pClients = 10
	p2pPerPeer = 20
)

// BenchmarkP2PvsRelay runs the same chat workload twice: with P2P on (a
// full mesh first) and with inbound connections blocked (nftables reject)
// on every client host, so that no channel can be made and every chat is
// relayed by the server. For each it reports the server's relayed bytes
// and relayed frames (admin stats, before/after), the server's CPU time
// (/proc/PID/stat, before/after) and chats per second through the control
// API (POST /v1/chat until every chat_acked event). docs/benchmarks.md
// gives the relay/P2P ratios.
func BenchmarkP2PvsRelay(b *testing.B) {
	for _, mode := range []string{"p2p", "relay"} {
		b.Run("mode="+mode, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			lab, users := startLab(b, ctx, labOpts{clients: p2pClients})
			if err := lab.Server().Start(ctx); err != nil {
				b.Fatal(err)
			}
			if mode == "relay" {
				for _, u := range users {
					if _, err := lab.Host(u).Block(ctx, netlab.Block{Reject: true}); err != nil { // undone by lab.Close
						b.Fatal(err)
					}
				}
			}
			if err := startClients(ctx, lab, users, 8); err != nil {
				b.Fatal(err)
			}
			if mode == "p2p" {
				if err := waitFullMesh(ctx, lab, users, time.Minute); err != nil {
					b.Fatal(err)
				}
			}
			spid, err := serverPID(lab)
			if err != nil {
				b.Fatal(err)
			}
			var bytes, frames int64
			var cpu, wall time.Duration
			via := map[string]int{}
			chats := 0
			for range b.N {
				st0, err := lab.Server().Stats(ctx)
				if err != nil {
					b.Fatal(err)
				}
				u0, s0, _ := CPUTime(spid)
				t0 := time.Now()
				n, vs, err := chatWorkload(ctx, lab, users)
				if err != nil {
					b.Fatal(err)
				}
				wall += time.Since(t0)
				u1, s1, _ := CPUTime(spid)
				st1, err := lab.Server().Stats(ctx)
				if err != nil {
					b.Fatal(err)
				}
				cpu += (u1 + s1) - (u0 + s0)
				bytes += st1.Totals.RelayedBytes - st0.Totals.RelayedBytes
				frames += st1.Totals.Uploads - st0.Totals.Uploads
				chats += n
				for k, v := range vs {
					via[k] += v
				}
			}
			nb := float64(b.N)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(bytes)/nb, "server-bytes/op")
			b.ReportMetric(float64(frames)/nb, "server-frames/op")
			b.ReportMetric(Ms(cpu)/nb, "server-cpu-ms/op")
			b.ReportMetric(float64(chats)/wall.Seconds(), "chats/s")
			b.ReportMetric(float64(chats)/nb, "chats/op")
			b.ReportMetric(Load1(), "load1")
			b.Logf("%s: %d chats (via %v) in %s; server relayed %d bytes in %d frames, CPU %s; load %s",
				mode, chats, via, wall, bytes, frames, cpu, LoadAvg())
		})
	}
}

// chatWorkload has every client send p2pPerPeer chats to every other
// client (one sender goroutine per client, chats sent one after another),
// then waits until every chat is acknowledged (chat_acked at its sender).
// It returns the number of chats and how many went each way.
func chatWorkload(ctx context.Context, lab *sim.Lab, users []string) (int, map[string]int, error) {
	mark := lab.Mark()
	type sent struct {
		from string
		ids  map[string]bool
		via  map[string]int
		err  error
	}
	res := make([]sent, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := sent{from: u, ids: map[string]bool{}, via: map[string]int{}}
			c := lab.Client(u)
			for k := range p2pPerPeer {
				for _, to := range users {
					if to == u {
						continue
					}
					r, err := c.Chat(ctx, to, fmt.Sprintf("bench %s->%s #%d", u, to, k))
					if err != nil {
						s.err = err
						res[i] = s
						return
					}
					s.ids[r.MessageID] = true
					s.via[r.Via]++
				}
			}
			res[i] = s
		}()
	}
	wg.Wait()
	total := 0
	via := map[string]int{}
	for _, s := range res {
		if s.err != nil {
			return 0, nil, s.err
		}
		total += len(s.ids)
		for k, v := range s.via {
			via[k] += v
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		missing := 0
		for _, s := range res {
			acked := 0
			for _, e := range lab.Client(s.from).Events(mark) {
				if e.Type == api.EventChatAcked && s.ids[e.MessageID] {
					acked++
				}
			}
			missing += len(s.ids) - acked
		}
		if missing <= 0 {
			return total, via, nil
		}
		select {
		case <-wctx.Done():
			return 0, nil, fmt.Errorf("bench: %d of %d chats not acknowledged within 2m", missing, total)
		case <-t.C:
		}
	}
}
