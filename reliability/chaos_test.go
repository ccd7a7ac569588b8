package reliability_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
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

// chaosSeed is P2PLAB_CHAOS_SEED, or a new seed printed with the result.
func chaosSeed() uint64 {
	if v, err := strconv.ParseUint(os.Getenv("P2PLAB_CHAOS_SEED"), 10, 64); err == nil {
		return v
	}
	return rand.Uint64() % 1_000_000
}

// ChaosResult is what the chaos spec measured.
type ChaosResult struct {
	Seed                       uint64
	Clients, Faults            int
	Stable                     []string
	Sent, Refused, Uncertain   int
	Asserted, Delivered        int
	Duplicates, ExplicitFailed int
}

// Chaos: CHAOS_CLIENTS clients (default 20) chat for CHAOS_SECONDS
// (default 60) while a seeded schedule cuts/restores, freezes/thaws and
// kills/restarts some of them and the server. Invariant: every message
// accepted for a user the schedule never touches, from a sender not killed
// after sending it, is received exactly once; no message anywhere is
// received twice. Re-run a schedule with P2PLAB_CHAOS_SEED=<seed>.
var _ = Describe("Chaos", Label("chaos"), func() {
	It("delivers exactly once to users who stay online under a seeded fault schedule", func(ctx SpecContext) {
		seed := chaosSeed()
		n := envInt("CHAOS_CLIENTS", 20)
		span := time.Duration(envInt("CHAOS_SECONDS", 60)) * time.Second
		users := make([]string, n)
		for i := range users {
			users[i] = fmt.Sprintf("c%03d", i)
		}
		faultable := users[:min(8, n/2)]
		sched := reliability.NewSchedule(seed, reliability.ScheduleSpec{
			Span: span, Targets: faultable, Server: true,
			Gap: 3 * time.Second, MinFor: time.Second, MaxFor: 6 * time.Second, MaxConcurrent: 3,
		})
		AddReportEntry("chaos seed", fmt.Sprintf("P2PLAB_CHAOS_SEED=%d", seed))
		fmt.Fprintf(GinkgoWriter, "%s", sched)
		DeferCleanup(func() {
			if CurrentSpecReport().Failed() {
				fmt.Fprintf(GinkgoWriter, "chaos FAILED with seed %d: re-run with P2PLAB_CHAOS_SEED=%d\n%s", seed, seed, sched)
			}
		})
		hit := sched.Hit()
		var stable []string
		for _, u := range users {
			if !slices.Contains(hit, u) {
				stable = append(stable, u)
			}
		}

		lab := startLab(ctx, "chaos", sim.Options{
			Topology: oneLAN(append([]string{"server"}, users...)...), Clients: users,
			Heartbeat: time.Second, Misses: 5, StartTimeout: 60 * time.Second,
		})
		Expect(lab.StartAll(ctx)).To(Succeed())

		var mu sync.Mutex
		faulted := map[string]bool{}
		killedAt := map[string][]time.Time{}
		var serverKills []time.Time
		setFaulted := func(t string, v bool) {
			mu.Lock()
			defer mu.Unlock()
			faulted[t] = v
		}
		isFaulted := func(t string) bool {
			mu.Lock()
			defer mu.Unlock()
			return faulted[t]
		}

		start := time.Now()
		runCtx, stopRun := context.WithTimeout(ctx, span+2*time.Minute)
		defer stopRun()
		var wg sync.WaitGroup
		// The schedule: one goroutine per fault, each bounded by runCtx.
		for _, f := range sched.Faults {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer GinkgoRecover()
				if !waitUntil(runCtx, start.Add(f.At)) {
					return
				}
				setFaulted(f.Target, true)
				defer setFaulted(f.Target, false)
				lab.Note("chaos: %s", f)
				var h *netlab.Host
				if f.Target == reliability.ServerTarget {
					h = lab.Server().Host()
				} else {
					h = lab.Host(f.Target)
				}
				var undo netlab.Undo
				var err error
				switch f.Kind {
				case reliability.FaultCut:
					undo, err = h.Cut(runCtx)
				case reliability.FaultFreeze:
					undo, err = h.Freeze(runCtx)
				case reliability.FaultKill:
					mu.Lock()
					if f.Target == reliability.ServerTarget {
						serverKills = append(serverKills, time.Now())
					} else {
						killedAt[f.Target] = append(killedAt[f.Target], time.Now())
					}
					mu.Unlock()
					if f.Target == reliability.ServerTarget {
						err = lab.Server().Kill(runCtx)
					} else {
						err = lab.Client(f.Target).Kill(runCtx)
					}
				}
				Expect(err).NotTo(HaveOccurred(), "apply %s", f)
				waitUntil(runCtx, start.Add(f.End()))
				uctx := context.WithoutCancel(runCtx)
				switch {
				case undo != nil:
					Expect(undo(uctx)).To(Succeed(), "undo %s", f)
				case f.Target == reliability.ServerTarget:
					Expect(lab.Server().Start(uctx)).To(Succeed(), "restart after %s", f)
				default:
					Expect(lab.Client(f.Target).Start(uctx)).To(Succeed(), "restart after %s", f)
				}
			}()
		}

		// The chatter: every client sends about one message a second to a
		// random other client, unless it is under a fault right now.
		type sentMsg struct {
			from, to, id string
			at           time.Time
		}
		var sent []sentMsg
		var refused, uncertain int
		for i, u := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer GinkgoRecover()
				r := rand.New(rand.NewPCG(seed, uint64(i)))
				tick := time.NewTicker(time.Second)
				defer tick.Stop()
				for k := 0; ; k++ {
					select {
					case <-runCtx.Done():
						return
					case <-tick.C:
					}
					if time.Since(start) > span {
						return
					}
					if isFaulted(u) {
						continue
					}
					to := users[r.IntN(n)]
					if to == u {
						continue
					}
					cctx, cancel := context.WithTimeout(runCtx, 3*time.Second)
					at := time.Now()
					resp, err := lab.Client(u).Chat(cctx, to, fmt.Sprintf("chaos %s->%s #%d", u, to, k))
					timedOut := cctx.Err() != nil
					cancel()
					mu.Lock()
					switch {
					case err == nil:
						sent = append(sent, sentMsg{u, to, resp.MessageID, at})
					case timedOut || isFaultedLocked(faulted, u):
						uncertain++ // the sender was hit mid-call: outcome unknown
					default:
						refused++
						if refused <= 10 {
							GinkgoWriter.Printf("refused %s->%s at %s: %v\n", u, to, at.Sub(start).Round(time.Millisecond), err)
						}
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		Expect(runCtx.Err()).NotTo(HaveOccurred(), "the schedule overran its time")

		By("after the schedule: every asserted message is received exactly once")
		var asserted []sentMsg
		for _, s := range sent {
			if !slices.Contains(stable, s.to) {
				continue
			}
			killedLater := slices.ContainsFunc(killedAt[s.from], func(t time.Time) bool { return !t.Before(s.at) })
			if !killedLater {
				asserted = append(asserted, s)
			}
		}
		counts := func() (got map[string]int, failed map[string]bool) {
			got, failed = map[string]int{}, map[string]bool{}
			for _, u := range users {
				for _, e := range lab.Client(u).Events(sim.Mark{}) {
					switch e.Type {
					case api.EventChatReceived:
						got[e.MessageID]++
					case api.EventChatFailed:
						failed[e.MessageID] = true
					}
				}
			}
			return
		}
		var got map[string]int
		var failed map[string]bool
		missing := func() []sentMsg {
			var out []sentMsg
			for _, s := range asserted {
				if got[s.id] == 0 && !failed[s.id] {
					out = append(out, s)
				}
			}
			return out
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			got, failed = counts()
			if len(missing()) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond) // poll pace; the verdict is the counts
		}
		res := ChaosResult{Seed: seed, Clients: n, Faults: len(sched.Faults), Stable: stable,
			Sent: len(sent), Refused: refused, Uncertain: uncertain, Asserted: len(asserted)}
		for _, s := range asserted {
			if got[s.id] > 0 {
				res.Delivered++
			}
			if failed[s.id] {
				res.ExplicitFailed++
			}
		}
		var dups []string
		for _, s := range sent {
			if got[s.id] > 1 {
				res.Duplicates += got[s.id] - 1
				dups = append(dups, fmt.Sprintf("%s->%s %s x%d", s.from, s.to, s.id, got[s.id]))
			}
		}
		b, _ := json.MarshalIndent(res, "", "  ")
		os.WriteFile(filepath.Join(lab.Artifacts(), "chaos.json"), b, 0o644)
		AddReportEntry("chaos", string(b))
		fmt.Fprintf(GinkgoWriter, "chaos result:\n%s\n", b)

		Expect(dups).To(BeEmpty(), "duplicate deliveries (seed %d)", seed)
		Expect(missing()).To(BeEmpty(), "messages to users who stayed online, never received nor refused (seed %d)", seed)
		// A refusal (chat_failed) is allowed only when the server was
		// killed: right after its restart it does not yet know every user.
		if len(serverKills) == 0 {
			Expect(res.ExplicitFailed).To(BeZero(), "refused messages to online users with no server kill (seed %d)", seed)
		}
		Expect(res.Asserted).To(BeNumerically(">", n), "too few asserted messages to mean anything")
	}, SpecTimeout(8*time.Minute))
})

func isFaultedLocked(m map[string]bool, u string) bool { return m[u] }

// waitUntil waits until t or ctx ends; it reports whether t was reached.
func waitUntil(ctx context.Context, t time.Time) bool {
	tm := time.NewTimer(time.Until(t))
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
