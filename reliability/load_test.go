package reliability_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/reliability"
	"github.com/p2plab/p2plab/sim"
)

// envInt reads a positive integer knob, or def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// LoadResult is what the load spec measured (written to load.json in the
// lab's artifacts and printed).
type LoadResult struct {
	Clients, PerClient                   int
	Sent, SentP2P, SentRelay             int
	Received, Duplicates, Acked, Refused int
	Seconds                              float64
	MessagesPerSecond                    float64
	ServerCPUPercent                     float64
	ServerCPUSeconds                     float64
	ServerRSSMiB, ServerPeakRSSMiB       float64
	ServerThreads                        int
	BringUpSeconds                       float64
}

// Load: LOAD_CLIENTS clients (default 100) on one LAN; the first half
// accept P2P channels, the second half block inbound connections, so pairs
// inside the first half talk P2P and pairs inside the second half through
// the relay, at the same time. Every client sends LOAD_MESSAGES (default
// 10) messages to its partner; each must be received exactly once and
// acknowledged.
var _ = Describe("Load", Label("load"), func() {
	It("delivers every message exactly once with 100 clients on both paths at once", func(ctx SpecContext) {
		n := envInt("LOAD_CLIENTS", 100)
		n -= n % 4 // pairs inside each half
		per := envInt("LOAD_MESSAGES", 10)
		users := make([]string, n)
		for i := range users {
			users[i] = fmt.Sprintf("c%03d", i)
		}
		t0 := time.Now()
		lab := startLab(ctx, "load", sim.Options{
			Topology: oneLAN(append([]string{"server"}, users...)...), Clients: users,
			// a shared, loaded machine: 15s of silence before a teardown
			Heartbeat: 5 * time.Second, Misses: 3, StartTimeout: 60 * time.Second,
		})
		Expect(lab.Server().Start(ctx)).To(Succeed())
		half := n / 2
		By(fmt.Sprintf("starting %d P2P clients, 8 at a time", half))
		sem := make(chan struct{}, 8)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for _, u := range users[:half] {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				errs <- lab.Client(u).Start(ctx)
			}()
		}
		wg.Wait()
		By(fmt.Sprintf("starting %d clients that block inbound connections, one by one", n-half))
		for _, u := range users[half:] {
			Expect(lab.Client(u).Start(ctx)).To(Succeed())
			undo, err := lab.Host(u).Block(ctx, netlab.Block{Reject: true})
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func(ctx SpecContext) { undo(ctx) })
		}
		close(errs)
		for err := range errs {
			Expect(err).NotTo(HaveOccurred())
		}
		bringUp := time.Since(t0)

		pid := lab.Server().Pid()
		Expect(pid).NotTo(BeZero())
		before, err := reliability.ReadProc(pid)
		Expect(err).NotTo(HaveOccurred())

		type sent struct{ from, to, id, via string }
		var mu sync.Mutex
		var all []sent
		refused := 0
		start := time.Now()
		for i, u := range users {
			to := users[i^1]
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer GinkgoRecover()
				for k := range per {
					r, err := lab.Client(u).Chat(ctx, to, fmt.Sprintf("load %s->%s #%d", u, to, k))
					mu.Lock()
					if err != nil {
						refused++
						GinkgoWriter.Printf("%s -> %s #%d refused: %v\n", u, to, k, err)
					} else {
						all = append(all, sent{u, to, r.MessageID, r.Via})
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()

		By("every message is received exactly once and acknowledged")
		count := func() (recv, dups, acked int) {
			got := map[string]int{}
			ack := map[string]bool{}
			for _, u := range users {
				for _, e := range lab.Client(u).Events(sim.Mark{}) {
					switch e.Type {
					case api.EventChatReceived:
						got[e.MessageID]++
					case api.EventChatAcked:
						ack[e.MessageID] = true
					}
				}
			}
			for _, s := range all {
				if got[s.id] > 0 {
					recv++
				}
				if got[s.id] > 1 {
					dups += got[s.id] - 1
				}
				if ack[s.id] {
					acked++
				}
			}
			return
		}
		var recv, dups, acked int
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			recv, dups, acked = count()
			if recv == len(all) && acked == len(all) {
				break
			}
			time.Sleep(100 * time.Millisecond) // poll pace; the verdict is the counts
		}
		elapsed := time.Since(start)
		after, err := reliability.ReadProc(pid)
		Expect(err).NotTo(HaveOccurred())

		res := LoadResult{Clients: n, PerClient: per, Sent: len(all), Refused: refused,
			Received: recv, Duplicates: dups, Acked: acked, Seconds: elapsed.Seconds(),
			MessagesPerSecond: float64(recv) / elapsed.Seconds(),
			ServerCPUPercent:  reliability.CPUPercent(before, after),
			ServerCPUSeconds:  (after.CPU - before.CPU).Seconds(),
			ServerRSSMiB:      float64(after.RSS) / (1 << 20), ServerPeakRSSMiB: float64(after.HWM) / (1 << 20),
			ServerThreads: after.Threads, BringUpSeconds: bringUp.Seconds()}
		wrong := 0
		for _, s := range all {
			i, _ := strconv.Atoi(s.from[1:])
			want := api.ViaP2P
			if i >= half {
				want = api.ViaRelay
			}
			if s.via == api.ViaP2P {
				res.SentP2P++
			} else {
				res.SentRelay++
			}
			if s.via != want {
				wrong++
			}
		}
		b, _ := json.MarshalIndent(res, "", "  ")
		os.WriteFile(filepath.Join(lab.Artifacts(), "load.json"), b, 0o644)
		AddReportEntry("load", string(b))
		fmt.Fprintf(GinkgoWriter, "load result:\n%s\n", b)

		Expect(refused).To(BeZero(), "sends refused")
		Expect(res.Sent).To(Equal(n * per))
		Expect(dups).To(BeZero(), "duplicate deliveries")
		Expect(recv).To(Equal(len(all)), "messages received")
		Expect(acked).To(Equal(len(all)), "messages acknowledged")
		Expect(wrong).To(BeZero(), "messages that took the other path (p2p %d, relay %d)", res.SentP2P, res.SentRelay)
		Expect(res.SentP2P).To(BeNumerically(">", 0))
		Expect(res.SentRelay).To(BeNumerically(">", 0))
		st, err := lab.Server().Stats(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Totals.Online).To(Equal(n), "every client still online")
	}, SpecTimeout(10*time.Minute))
})
