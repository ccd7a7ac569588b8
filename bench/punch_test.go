package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/scenarios"
	"github.com/p2plab/p2plab/sim"
)

// punchCase is one rung of the ladder (docs/protocol.md 9.7) on a NAT
// topology where it is the rung that works.
type punchCase struct {
	method, topology string
	args             []string // client arguments (sim.Options.ClientArgs)
	transport        string
}

// punchCases: between full-cone NATs the plain dial gets in (direct);
// between port-restricted cones it is filtered and TCP simultaneous open
// works (tcp-punch); with only udp-punch allowed, UDP punching and QUIC.
var punchCases = []punchCase{
	{"direct", "full-cone-nats", []string{"--punch"}, "tcp"},
	{"tcp-punch", "cone-nats", []string{"--punch"}, "tcp"},
	{"udp-punch", "cone-nats", []string{"--punch", "--punch-methods", "udp-punch"}, "udp"},
}

// punchDelay is added one way on every packet alice and bob send and
// receive (their only NIC): the path between them has a round trip of 4 x
// punchDelay (40 ms), the path to the server 2 x punchDelay.
const punchDelay = 10 * time.Millisecond

// punchSamples is the number of channels made per method.
func punchSamples() int {
	if n, err := strconv.Atoi(os.Getenv("P2PLAB_BENCH_PUNCH_SAMPLES")); err == nil && n > 0 {
		return n
	}
	if small() {
		return 5
	}
	return 20
}

// startNATLab starts the server and alice in a lab of the shipped NAT
// topology name, clients given args; bob is left to the caller. Its Close
// is registered with b.Cleanup.
func startNATLab(b *testing.B, ctx context.Context, name string, args []string) *sim.Lab {
	b.Helper()
	topo, err := sim.LoadTopology(scenarios.FS, "topologies/"+name+".yaml")
	if err != nil {
		b.Fatal(err)
	}
	lab := startSimLab(b, ctx, sim.Options{Topology: topo, ClientArgs: args})
	if err := lab.Server().Start(ctx); err != nil {
		b.Fatal(err)
	}
	if err := lab.Client("alice").Start(ctx); err != nil {
		b.Fatal(err)
	}
	return lab
}

// openChannel starts bob and waits for his channel to alice; it returns
// bob's events from his start (login, try, channel_opened, ...) and the
// channel_opened event.
func openChannel(ctx context.Context, lab *sim.Lab) ([]api.Event, api.Event, error) {
	bob := lab.Client("bob")
	mark := lab.Mark()
	if err := bob.Start(ctx); err != nil {
		return nil, api.Event{}, err
	}
	opened, err := bob.WaitEvent(ctx, mark, sim.Match{Type: api.EventChannelOpened, Peer: "alice"}, 15*time.Second)
	if err != nil {
		return nil, api.Event{}, err
	}
	return bob.Events(mark), opened, nil
}

// closeChannel stops bob and waits until alice has closed her end.
func closeChannel(ctx context.Context, lab *sim.Lab) error {
	mark := lab.Mark()
	if err := lab.Client("bob").Stop(ctx); err != nil {
		return err
	}
	_, err := lab.Client("alice").WaitEvent(ctx, mark, sim.Match{Type: api.EventChannelClosed, Peer: "bob"}, 15*time.Second)
	return err
}

// BenchmarkPunch measures how long making a channel takes on each rung of
// the ladder, across two NATs on a path with a known delay (punchDelay:
// 40 ms round trip between the peers). Each sample starts bob, whose login
// owes alice a channel and runs the ladder (the code POST /v1/connect
// runs), and stops him again. Per method it reports, from bob's own event
// times: the rung (its `try` event to `channel_opened`: for the punches the
// coordination through the server, the simultaneous open or the punch and
// QUIC handshake) and the whole ladder (`login` to `channel_opened`,
// including the rungs that failed first), in ms and in round trips.
func BenchmarkPunch(b *testing.B) {
	for _, pc := range punchCases {
		b.Run("method="+pc.method, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			lab := startNATLab(b, ctx, pc.topology, pc.args)
			for _, h := range []string{"alice", "bob"} {
				if _, err := lab.Host(h).Impair(ctx, "", netlab.Impairment{Delay: punchDelay}); err != nil { // undone by lab.Close
					b.Fatal(err)
				}
			}
			rtt := 4 * punchDelay
			var rung, whole []time.Duration
			for range b.N {
				for range punchSamples() {
					evs, opened, err := openChannel(ctx, lab)
					if err != nil {
						b.Fatal(err)
					}
					if opened.Method != pc.method || opened.Transport != pc.transport {
						b.Fatalf("channel made by %s over %s, want %s over %s", opened.Method, opened.Transport, pc.method, pc.transport)
					}
					var login, try time.Time
					for _, e := range evs {
						switch {
						case e.Type == api.EventLogin && login.IsZero():
							login = e.Time
						case e.Type == api.EventTry && e.Method == pc.method && e.Peer == "alice":
							try = e.Time // the last one before the channel
						}
						if e.Seq == opened.Seq {
							break
						}
					}
					if login.IsZero() || try.IsZero() {
						b.Fatalf("bob's events lack login or try %s: %+v", pc.method, evs)
					}
					rung = append(rung, opened.Time.Sub(try))
					whole = append(whole, opened.Time.Sub(login))
					if err := closeChannel(ctx, lab); err != nil {
						b.Fatal(err)
					}
				}
			}
			r, w := Distribution(rung), Distribution(whole)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(Ms(r.P50), "ms-rung-p50")
			b.ReportMetric(Ms(r.P99), "ms-rung-p99")
			b.ReportMetric(Ms(w.P50), "ms-ladder-p50")
			b.ReportMetric(Ms(w.P99), "ms-ladder-p99")
			b.ReportMetric(float64(r.P50)/float64(rtt), "rtt-rung-p50")
			b.ReportMetric(Ms(rtt), "ms-rtt")
			b.ReportMetric(float64(len(rung)), "samples")
			b.ReportMetric(Load1(), "load1")
			b.Logf("%s (%s): rung p50 %s p99 %s max %s; ladder p50 %s p99 %s; rtt %s; %d samples; load %s",
				pc.method, pc.topology, r.P50, r.P99, r.Max, w.P50, w.P99, rtt, len(rung), LoadAvg())
		})
	}
}

// channelChats is the chat workload of BenchmarkChannelCost: sent one
// after another by bob to alice, then all acknowledged.
func channelChats() int {
	if small() {
		return 200
	}
	return 1000
}

// BenchmarkChannelCost compares one UDP (QUIC) channel with one TCP
// channel, both punched between the same two port-restricted cone NATs
// (no delay): the memory a channel adds to the acceptor (alice's VmRSS
// with the channel minus before it; one sample, so noisy), both clients'
// CPU while the channel idles (heartbeats only) over a window, and chat
// through it: chats per second (bob's POST /v1/chat, one after another,
// until every chat_acked) and the two clients' CPU per 1000 chats.
func BenchmarkChannelCost(b *testing.B) {
	for _, pc := range punchCases[1:] {
		b.Run("transport="+pc.transport, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			lab := startNATLab(b, ctx, pc.topology, pc.args)
			apid, err := clientPID(lab, "alice")
			if err != nil {
				b.Fatal(err)
			}
			rss0, err := RSS(apid)
			if err != nil {
				b.Fatal(err)
			}
			_, opened, err := openChannel(ctx, lab)
			if err != nil {
				b.Fatal(err)
			}
			if opened.Transport != pc.transport {
				b.Fatalf("channel over %s (%s), want %s", opened.Transport, opened.Method, pc.transport)
			}
			bpid, err := clientPID(lab, "bob")
			if err != nil {
				b.Fatal(err)
			}
			rss1, err := RSS(apid)
			if err != nil {
				b.Fatal(err)
			}
			idle, err := idleCPU(ctx, []int{apid, bpid}, 5*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			cpu := func() time.Duration {
				var t time.Duration
				for _, p := range []int{apid, bpid} {
					u, s, _ := CPUTime(p)
					t += u + s
				}
				return t
			}
			var wall, used time.Duration
			chats := 0
			for range b.N {
				c0, t0 := cpu(), time.Now()
				n, via, err := chatRun(ctx, lab, "bob", "alice", channelChats())
				if err != nil {
					b.Fatal(err)
				}
				if via["p2p"] != n {
					b.Fatalf("chats went %v, want all p2p", via)
				}
				wall += time.Since(t0)
				used += cpu() - c0
				chats += n
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(rss1-rss0)/1e6, "MB-rss-channel")
			b.ReportMetric(float64(rss1)/1e6, "MB-rss-client")
			b.ReportMetric(idle, "cores-idle-channel")
			b.ReportMetric(float64(chats)/wall.Seconds(), "chats/s")
			b.ReportMetric(Ms(used)/float64(chats)*1000, "cpu-ms/1000chats")
			b.ReportMetric(Load1(), "load1")
			b.Logf("%s (%s): alice RSS %d -> %d bytes; idle %.4f cores; %d chats in %s, CPU %s; load %s",
				pc.transport, opened.Method, rss0, rss1, idle, chats, wall, used, LoadAvg())
		})
	}
}

// chatRun sends n chats from one client to another, one after another,
// and waits until every one is acknowledged (chat_acked at the sender).
// It returns how many went each way.
func chatRun(ctx context.Context, lab *sim.Lab, from, to string, n int) (int, map[string]int, error) {
	c := lab.Client(from)
	mark := lab.Mark()
	ids := map[string]bool{}
	via := map[string]int{}
	for k := range n {
		r, err := c.Chat(ctx, to, fmt.Sprintf("bench %s->%s #%d", from, to, k))
		if err != nil {
			return 0, nil, err
		}
		ids[r.MessageID] = true
		via[r.Via]++
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err := sim.Poll(wctx, 20*time.Millisecond, func() (bool, error) {
		acked := 0
		for _, e := range c.Events(mark) {
			if e.Type == api.EventChatAcked && ids[e.MessageID] {
				acked++
			}
		}
		return acked >= len(ids), nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("bench: chats not all acknowledged: %w", err)
	}
	return len(ids), via, nil
}
