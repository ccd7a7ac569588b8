package reliability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/reliability"
	"github.com/p2plab/p2plab/sim"
)

// Floods against the reference programs (docs/reliability.md, "Hostile
// floods"): an attacker on host mallory floods the reference client alice
// through the server while bob keeps chatting with alice through the relay
// (both block inbound connections). Each flood runs once, bounded in count
// and time; for each the spec records the server's and alice's RSS and
// descriptors before and after, bob->alice relay round trips while it
// runs, and the load average, and checks that alice ends online, served,
// and back within the documented bounds (docs/protocol.md 2.5).
var _ = Describe("Hostile floods", Ordered, ContinueOnFailure, Label("hostile"), func() {
	var (
		lab     *sim.Lab
		mallory *netlab.Host
		figures []FloodFigure
	)

	BeforeAll(func(ctx SpecContext) {
		lab = relayOnlyLab(ctx, "hostile")
		mallory = lab.Host("mallory")
	}, NodeTimeout(time.Minute))

	AfterAll(func() {
		if len(figures) == 0 {
			return
		}
		b, _ := json.MarshalIndent(figures, "", "  ")
		_ = os.WriteFile(filepath.Join(lab.Artifacts(), "floods.json"), b, 0o644)
		AddReportEntry("floods", string(b))
		fmt.Fprintf(GinkgoWriter, "flood figures:\n%s\n", b)
	})

	// flood runs one flood (attack, bounded by within) with the probes
	// going, then waits for settled (alice has taken it all in), and
	// records the figures.
	flood := func(ctx context.Context, name string, count int, within time.Duration, attack func(context.Context), settled func() bool) FloodFigure {
		fig := FloodFigure{Flood: name, Count: count}
		srvPid, alicePid := lab.Server().Pid(), lab.Client("alice").Pid()
		Expect(srvPid).NotTo(BeZero())
		Expect(alicePid).NotTo(BeZero())
		fig.LoadBefore = loadAvg()
		fig.Server.before(srvPid)
		fig.Alice.before(alicePid)
		pctx, stopProbes := context.WithCancel(ctx)
		probes := startProbes(pctx, lab)
		actx, cancel := context.WithTimeout(ctx, within)
		t0 := time.Now()
		attack(actx)
		cancel()
		Eventually(settled).WithContext(ctx).WithTimeout(within).WithPolling(100*time.Millisecond).Should(BeTrue(), "%s: alice took the flood in", name)
		fig.Seconds = time.Since(t0).Seconds()
		fig.Server.peak(srvPid)
		fig.Alice.peak(alicePid)
		stopProbes()
		fig.Probes = probes.wait()
		fig.LoadAfter = loadAvg()
		return fig
	}

	// after records the figures once the attacker left, when whatever
	// the flood made alice and the server hold must be released.
	after := func(fig *FloodFigure) {
		fig.Server.after(lab.Server().Pid())
		fig.Alice.after(lab.Client("alice").Pid())
		st, err := lab.Server().Stats(context.Background())
		Expect(err).NotTo(HaveOccurred())
		au, _ := st.User("alice")
		fig.AliceOnline = au.Online
		fig.RelayThrottled = st.Totals.RelayThrottled
		figures = append(figures, *fig)
		fmt.Fprintf(GinkgoWriter, "%s\n", fig)
		Expect(fig.AliceOnline).To(BeTrue(), "%s: alice must stay online", fig.Flood)
		Expect(fig.Probes.Lost).To(BeZero(), "%s: bob's chats to alice must all be delivered", fig.Flood)
		// the documented bounds (docs/reliability.md, "Hostile floods")
		Expect(fig.Alice.RSSAfterMiB).To(BeNumerically("<", AliceRSSBoundMiB), "%s: alice's RSS", fig.Flood)
		Expect(fig.Server.RSSAfterMiB).To(BeNumerically("<", ServerRSSBoundMiB), "%s: the server's RSS", fig.Flood)
		Expect(fig.Alice.FDsAfter).To(BeNumerically("<=", fig.Alice.FDsBefore+4), "%s: alice's descriptors", fig.Flood)
		Expect(fig.Server.FDsAfter).To(BeNumerically("<=", fig.Server.FDsBefore+4), "%s: the server's descriptors", fig.Flood)
	}

	// got reports whether alice has received mallory's chat id: the
	// marker each flood ends with (the server keeps one sender's frames in
	// order, so alice has taken in the whole flood). Counting the flood's
	// own events would not do: alice may drop the oldest (docs/protocol.md
	// 2.5).
	got := func(id string) func() bool {
		return func() bool {
			for _, e := range lab.Client("alice").Events(sim.Mark{}) {
				if e.Type == api.EventChatReceived && e.From == "mallory" && e.MessageID == id {
					return true
				}
			}
			return false
		}
	}

	// chatFlood has mallory send alice n relayed chats with content
	// (message IDs prefix0, prefix1, ...), within the time given.
	chatFlood := func(ctx context.Context, name, prefix, content string, n int, within time.Duration) FloodFigure {
		m := dialFlooder(ctx, lab, mallory)
		m.login("mallory")
		fig := flood(ctx, name, n, within, func(ctx context.Context) {
			m.flood(ctx, n, func(i int) protocol.Frame {
				return protocol.MustFrame(protocol.TypeChatMessage, protocol.Chat{MessageID: fmt.Sprintf("%s%d", prefix, i),
					UserID: "mallory", DestUserID: "alice", Content: content})
			})
		}, func() bool { return got(m.marker)() })
		m.close()
		return fig
	}

	It("offer flood: 20,000 relayed FileOffers hold at most 8 transfers, released when the sender leaves", func(ctx SpecContext) {
		const n = 20000
		m := dialFlooder(ctx, lab, mallory)
		m.login("mallory")
		fig := flood(ctx, "offer flood", n, 60*time.Second, func(ctx context.Context) {
			m.flood(ctx, n, func(i int) protocol.Frame {
				return protocol.MustFrame(protocol.TypeFileOffer, protocol.FileOffer{TransferID: fmt.Sprintf("o%d", i),
					UserID: "mallory", DestUserID: "alice", FileName: "f", Size: 10, SHA256: strings.Repeat("0", 64)})
			})
		}, func() bool { return got(m.marker)() })
		m.close()
		Eventually(func() int { return fdsOf(lab.Client("alice").Pid()) }).WithTimeout(20*time.Second).
			Should(BeNumerically("<=", fig.Alice.FDsBefore+2), "alice's transfer descriptors released once mallory left")
		after(&fig)
	}, SpecTimeout(3*time.Minute))

	It("chat burst: 5,000 small chats at once are all delivered", func(ctx SpecContext) {
		fig := chatFlood(ctx, "chat burst", "b", "x", 5000, 60*time.Second)
		after(&fig)
	}, SpecTimeout(3*time.Minute))

	It("connection flood: 2,000 connections that never log in are bounded by the server", func(ctx SpecContext) {
		const n = 2000
		var conns []net.Conn
		DeferCleanup(func() {
			for _, c := range conns {
				c.Close()
			}
		})
		var refused int
		fig := flood(ctx, "connection flood", n, 60*time.Second, func(ctx context.Context) {
			Expect(mallory.Do(ctx, func() error {
				d := net.Dialer{Timeout: 3 * time.Second}
				for range n {
					c, err := d.DialContext(ctx, "tcp", lab.Server().Addr().String())
					if err != nil {
						refused++
						continue
					}
					conns = append(conns, c)
				}
				return nil
			})).To(Succeed())
		}, func() bool { return true })
		st, err := lab.Server().Stats(ctx)
		Expect(err).NotTo(HaveOccurred())
		fig.Note = fmt.Sprintf("%d dials failed, server refused %d at accept (pendingRefused)", refused, st.Totals.PendingRefused)
		for _, c := range conns {
			c.Close()
		}
		conns = nil
		Eventually(func() int { return fdsOf(lab.Server().Pid()) }).WithTimeout(30*time.Second).
			Should(BeNumerically("<=", fig.Server.FDsBefore+4), "the server's descriptors back once the connections closed")
		after(&fig)
	}, SpecTimeout(3*time.Minute))

	It("tiny-frame flood: 50,000 tiny relayed frames slow the sender, not cut the victim", func(ctx SpecContext) {
		fig := chatFlood(ctx, "tiny-frame flood", "t", "", 50000, 90*time.Second)
		after(&fig)
	}, SpecTimeout(4*time.Minute))

	It("big-chat events: 300 chats of 1 MB stay within the client's event bytes bound", func(ctx SpecContext) {
		fig := chatFlood(ctx, "big-chat events", "g", strings.Repeat("y", protocol.MaxFrameLen-1024), 300, 120*time.Second)
		// one answer of GET /v1/events over all of them
		_, err := lab.Client("alice").API().Events(ctx, 0, 0)
		Expect(err).NotTo(HaveOccurred())
		after(&fig)
	}, SpecTimeout(4*time.Minute))
})

// Bounds the floods must end within: the reference client keeps at most
// 64 MiB of events and 64 MiB of unacknowledged content (docs/protocol.md
// 2.5), and Go's heap may be twice what is live before it is collected.
const (
	AliceRSSBoundMiB  = 512
	ServerRSSBoundMiB = 256
)

// FloodFigure is what one flood measured (floods.json in the lab's
// artifacts, and docs/reliability.md).
type FloodFigure struct {
	Flood   string
	Count   int
	Seconds float64
	// Server and Alice (the victim): RSS and descriptors before the
	// flood, at its end, and after the attacker left.
	Server, Alice ProcFigure
	// Probes are bob->alice relay round trips (chat to chat_acked) while
	// the flood ran.
	Probes ProbeFigure
	// AliceOnline is the server's view of alice after the flood.
	AliceOnline bool
	// RelayThrottled is the server's total so far (docs/protocol.md 5.10).
	RelayThrottled int64
	// LoadBefore and LoadAfter are the load average around the flood
	// (the machine is shared: the figures were taken under load).
	LoadBefore, LoadAfter string
	Note                  string `json:",omitempty"`
}

func (f FloodFigure) String() string {
	return fmt.Sprintf("%s (%d in %.1fs): server RSS %.1f -> %.1f -> %.1f MiB, fds %d -> %d -> %d; alice RSS %.1f -> %.1f -> %.1f MiB, fds %d -> %d -> %d; relay RTT p50 %.0f ms max %.0f ms (%d probes, %d lost); alice online %v; %s / %s %s",
		f.Flood, f.Count, f.Seconds,
		f.Server.RSSBeforeMiB, f.Server.RSSPeakMiB, f.Server.RSSAfterMiB, f.Server.FDsBefore, f.Server.FDsPeak, f.Server.FDsAfter,
		f.Alice.RSSBeforeMiB, f.Alice.RSSPeakMiB, f.Alice.RSSAfterMiB, f.Alice.FDsBefore, f.Alice.FDsPeak, f.Alice.FDsAfter,
		f.Probes.P50Ms, f.Probes.MaxMs, f.Probes.N, f.Probes.Lost, f.AliceOnline, f.LoadBefore, f.LoadAfter, f.Note)
}

// ProcFigure is one process's RSS and descriptors around a flood.
type ProcFigure struct {
	RSSBeforeMiB, RSSPeakMiB, RSSAfterMiB float64
	FDsBefore, FDsPeak, FDsAfter          int
}

func sample(pid int) reliability.ProcSample {
	s, err := reliability.ReadProc(pid)
	ExpectWithOffset(2, err).NotTo(HaveOccurred())
	return s
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func (p *ProcFigure) before(pid int) {
	s := sample(pid)
	p.RSSBeforeMiB, p.FDsBefore = mib(s.RSS), s.FDs
}

func (p *ProcFigure) peak(pid int) {
	s := sample(pid)
	p.RSSPeakMiB, p.FDsPeak = mib(s.RSS), s.FDs
}

func (p *ProcFigure) after(pid int) {
	s := sample(pid)
	p.RSSAfterMiB, p.FDsAfter = mib(s.RSS), s.FDs
}

func fdsOf(pid int) int {
	s, err := reliability.ReadProc(pid)
	if err != nil {
		return -1
	}
	return s.FDs
}

func loadAvg() string {
	la, err := reliability.ReadLoadAvg()
	if err != nil {
		return err.Error()
	}
	return la.String()
}

// ProbeFigure sums the probes' round trips.
type ProbeFigure struct {
	N, Lost      int
	P50Ms, MaxMs float64
}

// probes sends bob->alice chats through the relay, one every 200ms (a
// pace, not a wait), each waiting for its chat_acked, until ctx ends.
type probes struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	rtts []time.Duration
	lost int
}

func startProbes(ctx context.Context, lab *sim.Lab) *probes {
	p := &probes{}
	bob := lab.Client("bob")
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer GinkgoRecover()
		tk := time.NewTicker(200 * time.Millisecond)
		defer tk.Stop()
		for k := 0; ; k++ {
			mark := lab.Mark()
			t0 := time.Now()
			r, err := bob.Chat(ctx, "alice", fmt.Sprintf("probe %d", k))
			if err == nil {
				// a probe is waited for in full even when the flood just
				// ended: it counts, lost or not.
				_, err = bob.WaitEvent(context.WithoutCancel(ctx), mark, sim.Match{Type: api.EventChatAcked, MessageID: r.MessageID}, 15*time.Second)
			}
			if ctx.Err() != nil && err != nil {
				return
			}
			p.mu.Lock()
			if err != nil {
				p.lost++
				GinkgoWriter.Printf("probe %d: %v\n", k, err)
			} else {
				p.rtts = append(p.rtts, time.Since(t0))
			}
			p.mu.Unlock()
			select {
			case <-tk.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return p
}

func (p *probes) wait() ProbeFigure {
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	f := ProbeFigure{N: len(p.rtts), Lost: p.lost}
	if len(p.rtts) > 0 {
		slices.Sort(p.rtts)
		f.P50Ms = float64(p.rtts[len(p.rtts)/2]) / float64(time.Millisecond)
		f.MaxMs = float64(p.rtts[len(p.rtts)-1]) / float64(time.Millisecond)
	}
	return f
}

// flooder is an attacker's logged-in connection to the server whose input
// is drained (heartbeats answered, FileResults counted) on its own
// goroutine, so the server never cuts it for not reading.
type flooder struct {
	*raw
	wmu     sync.Mutex
	results atomic.Int64
	done    chan struct{}
	marker  string // the messageID of the chat the last flood ended with
}

func dialFlooder(ctx context.Context, lab *sim.Lab, h *netlab.Host) *flooder {
	return &flooder{raw: dialRaw(ctx, lab, h), done: make(chan struct{})}
}

// login logs in, then starts draining the connection.
func (f *flooder) login(user string) {
	f.raw.login(user)
	go func() {
		defer close(f.done)
		_ = f.c.SetReadDeadline(time.Time{})
		for {
			fr, err := f.r.ReadFrame()
			if err != nil {
				return
			}
			switch fr.Type {
			case protocol.TypeHeartbeat:
				b, _ := protocol.Marshal(protocol.Frame{Type: protocol.TypeHeartbeatAck, Re: fr.ID})
				f.write(b)
			case protocol.TypeFileResult:
				f.results.Add(1)
			}
		}
	}()
	DeferCleanup(f.close)
}

func (f *flooder) write(b []byte) error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	_ = f.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := f.c.Write(b)
	return err
}

// flood writes n frames made by mk, 64 KiB at a time, until done or ctx
// ends, then a small chat to alice whose messageID it keeps in marker.
func (f *flooder) flood(ctx context.Context, n int, mk func(int) protocol.Frame) {
	var buf bytes.Buffer
	for i := 0; i < n && ctx.Err() == nil; i++ {
		ExpectWithOffset(1, protocol.WriteFrame(&buf, mk(i))).To(Succeed())
		if buf.Len() >= 64<<10 || i == n-1 {
			ExpectWithOffset(1, f.write(buf.Bytes())).To(Succeed(), "flood write")
			buf.Reset()
		}
	}
	f.marker = fmt.Sprintf("end-%d", time.Now().UnixNano())
	b, err := protocol.Marshal(protocol.MustFrame(protocol.TypeChatMessage, protocol.Chat{MessageID: f.marker,
		UserID: f.user, DestUserID: "alice", Content: "end of flood"}))
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	ExpectWithOffset(1, f.write(b)).To(Succeed(), "marker write")
}

// close ends the connection (mallory goes offline) and waits for the
// drain goroutine.
func (f *flooder) close() {
	f.c.Close()
	<-f.done
}
