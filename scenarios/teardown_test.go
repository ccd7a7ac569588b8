package scenarios_test

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/sim"
)

// netlab_block_all_reject refuses every new inbound TCP connection with a reset.
var netlab_block_all_reject = netlab.Block{Reject: true}

// Heartbeat settings for teardown specs: teardown = 200ms x (3+1) = 800ms.
const (
	hb     = 200 * time.Millisecond
	misses = 3
)

// A fault on bob, and the close reasons the spec allows at each end.
type teardownCase struct {
	// apply hits bob; it returns an undo (or nil).
	apply func(ctx context.Context, lab *sim.Lab) (netlab.Undo, error)
	// aliceReasons: alice's end. The server's notice gives "peer offline";
	// the channel's own heartbeat may fire first ("heartbeat timeout"); a
	// killed process's socket ends at once ("connection lost").
	aliceReasons []string
	// bobReasons: bob's end, checked within the bound if bob can act (cut);
	// nil when bob cannot run (frozen, killed).
	bobReasons []string
	// bobAfterUndo: bob's end is checked after the undo (thaw), unbounded
	// by the teardown time because bob was not running.
	bobAfterUndo bool
}

var _ = Describe("Heartbeat-driven teardown", Label("heartbeat", "teardown"), func() {
	for _, backend := range backends {
		Context("on "+backend, Label(backend), func() {
			DescribeTable("when a client is hit, the server tells the others and both ends close the channel within heartbeat x (misses+1)",
				func(ctx SpecContext, tc teardownCase) {
					lab := startLab(ctx, backend, labConfig{clients: users[:2], heartbeat: hb, misses: misses})
					bound := lab.TeardownBound()
					Expect(lab.WaitChannels(ctx, sim.ChannelsExpect{Pairs: [][2]string{{"alice", "bob"}}}, sim.Mark{}, 5*time.Second)).To(Succeed())
					alice, bob := lab.Client("alice"), lab.Client("bob")

					mark := lab.Mark()
					undo, err := tc.apply(ctx, lab)
					if undo != nil {
						DeferCleanup(func(ctx SpecContext) { undo(ctx) })
					}
					Expect(err).NotTo(HaveOccurred())

					By("the server tells alice that bob is offline")
					_, err = alice.WaitEvent(ctx, mark, sim.Match{Type: api.EventUserOffline, UserID: "bob"}, bound)
					Expect(err).NotTo(HaveOccurred())

					By("alice closes her end in time, with an allowed reason")
					e, err := alice.WaitEvent(ctx, mark, sim.Match{Type: api.EventChannelClosed, Peer: "bob", Reasons: tc.aliceReasons}, bound)
					Expect(err).NotTo(HaveOccurred())
					AddReportEntry("alice closed", fmt.Sprintf("%s after %s", e.Reason, e.Time.Sub(mark.Time).Round(time.Millisecond)))
					Expect(lab.WaitLog(ctx, sim.LogExpect{At: "alice", Lines: []string{"closed bob: " + e.Reason}, Since: "last"}, mark, bound)).To(Succeed())

					if tc.bobReasons != nil {
						By("bob, who can still run, closes his end in time too")
						e, err := bob.WaitEvent(ctx, mark, sim.Match{Type: api.EventChannelClosed, Peer: "alice", Reasons: tc.bobReasons}, bound)
						Expect(err).NotTo(HaveOccurred())
						Expect(lab.WaitLog(ctx, sim.LogExpect{At: "bob", Lines: []string{"closed alice: " + e.Reason}, Since: "last"}, mark, bound)).To(Succeed())
					}
					if tc.bobAfterUndo {
						By("after the undo, bob closes his end as well")
						Expect(undo(ctx)).To(Succeed())
						_, err := bob.WaitEvent(ctx, mark, sim.Match{Type: api.EventChannelClosed, Peer: "alice"}, time.Since(mark.Time)+5*time.Second)
						Expect(err).NotTo(HaveOccurred())
					}
					if tc.bobAfterUndo {
						By("bob, thawed, logs in again and the channel is made again")
						Expect(lab.WaitChannels(ctx, sim.ChannelsExpect{Pairs: [][2]string{{"alice", "bob"}}}, sim.Mark{}, 15*time.Second)).To(Succeed())
						return
					}
					Expect(lab.WaitChannels(ctx, sim.ChannelsExpect{Absent: [][2]string{{"alice", "bob"}}}, sim.Mark{}, 5*time.Second)).To(Succeed())
					st, err := lab.Server().Stats(ctx)
					Expect(err).NotTo(HaveOccurred())
					u, _ := st.User("bob")
					Expect(u.Online).To(BeFalse())
				},
				Entry("frozen (SIGSTOP/cgroup freezer): notice or heartbeat at alice; bob closes after the thaw", Label("freeze"), teardownCase{
					apply:        func(ctx context.Context, lab *sim.Lab) (netlab.Undo, error) { return lab.Host("bob").Freeze(ctx) },
					aliceReasons: []string{protocol.ReasonPeerOffline, protocol.ReasonHeartbeatTimeout},
					bobAfterUndo: true,
				}, SpecTimeout(2*time.Minute)),
				Entry("cut off (link down, silent loss): notice or heartbeat at alice; heartbeat at bob", Label("cut"), teardownCase{
					apply:        func(ctx context.Context, lab *sim.Lab) (netlab.Undo, error) { return lab.Host("bob").Cut(ctx) },
					aliceReasons: []string{protocol.ReasonPeerOffline, protocol.ReasonHeartbeatTimeout},
					bobReasons:   []string{protocol.ReasonHeartbeatTimeout},
				}, SpecTimeout(2*time.Minute)),
				Entry("killed (SIGKILL): the socket ends or the notice comes first at alice", Label("kill"), teardownCase{
					apply: func(ctx context.Context, lab *sim.Lab) (netlab.Undo, error) {
						return nil, lab.Client("bob").Kill(ctx)
					},
					aliceReasons: []string{protocol.ReasonConnectionLost, protocol.ReasonPeerOffline},
				}, SpecTimeout(2*time.Minute)),
			)
		})
	}
})
