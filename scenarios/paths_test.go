package scenarios_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/sim"
)

var _ = Describe("P2P without the server", Label("p2p", "server-loss"), func() {
	for _, backend := range backends {
		Context("on "+backend, Label(backend), func() {
			It("keeps two clients chatting over their channel after the server is killed", func(ctx SpecContext) {
				lab := startLab(ctx, backend, labConfig{clients: users[:2], heartbeat: hb, misses: misses})
				Expect(lab.WaitChannels(ctx, sim.ChannelsExpect{Pairs: [][2]string{{"alice", "bob"}}}, sim.Mark{}, 5*time.Second)).To(Succeed())
				mark := lab.Mark()
				Expect(lab.Server().Kill(ctx)).To(Succeed())
				_, err := lab.Client("alice").WaitEvent(ctx, mark, sim.Match{Type: api.EventServerLost}, lab.TeardownBound())
				Expect(err).NotTo(HaveOccurred())
				for i, p := range [][2]string{{"alice", "bob"}, {"bob", "alice"}, {"alice", "bob"}} {
					s, err := lab.Chat(ctx, p[0], p[1], "no server needed "+string(rune('a'+i)))
					Expect(err).NotTo(HaveOccurred())
					note, err := lab.CheckPath(ctx, s, api.ViaP2P, 5*time.Second)
					Expect(err).NotTo(HaveOccurred())
					Expect(note).To(ContainSubstring("server down"), "with the server dead, its counters cannot be read")
				}
				By("the channel outlives the server by more than a teardown period")
				Expect(lab.Client("alice").NoEvent(ctx, mark, sim.Match{Type: api.EventChannelClosed}, 2*lab.Teardown())).To(Succeed())
				Expect(lab.WaitChannels(ctx, sim.ChannelsExpect{Pairs: [][2]string{{"alice", "bob"}}}, sim.Mark{}, time.Second)).To(Succeed())
			}, SpecTimeout(2*time.Minute))
		})
	}
})

var _ = Describe("P2PInfo log", Label("log"), func() {
	for _, backend := range backends {
		Context("on "+backend, Label(backend), func() {
			It("writes the exact phrases in order for establishment, relay send, p2p send and close", func(ctx SpecContext) {
				lab := startLab(ctx, backend, labConfig{clients: users[:2], manual: true})
				Expect(lab.Server().Start(ctx)).To(Succeed())
				alice, bob := lab.Client("alice"), lab.Client("bob")
				Expect(alice.Start(ctx)).To(Succeed())
				undo, err := lab.Host("alice").Block(ctx, netlab_block_all_reject)
				Expect(err).NotTo(HaveOccurred())
				Expect(bob.Start(ctx)).To(Succeed())
				Expect(lab.WaitLog(ctx, sim.LogExpect{At: "bob", Lines: []string{"create failed {alice}: *"}}, lab.Mark(), 5*time.Second)).To(Succeed())

				s, err := lab.Chat(ctx, "bob", "alice", "relayed")
				Expect(err).NotTo(HaveOccurred())
				_, err = lab.CheckPath(ctx, s, api.ViaRelay, 5*time.Second)
				Expect(err).NotTo(HaveOccurred())

				Expect(undo(ctx)).To(Succeed())
				_, err = bob.Connect(ctx, "alice")
				Expect(err).NotTo(HaveOccurred())
				s, err = lab.Chat(ctx, "bob", "alice", "direct")
				Expect(err).NotTo(HaveOccurred())
				_, err = lab.CheckPath(ctx, s, api.ViaP2P, 5*time.Second)
				Expect(err).NotTo(HaveOccurred())
				Expect(lab.WaitChannels(ctx, sim.ChannelsExpect{Pairs: [][2]string{{"alice", "bob"}}}, sim.Mark{}, 5*time.Second)).To(Succeed())
				mark := lab.Mark()
				Expect(bob.Stop(ctx)).To(Succeed())
				_, err = alice.WaitEvent(ctx, mark, sim.Match{Type: api.EventChannelClosed, Peer: "bob"}, 5*time.Second)
				Expect(err).NotTo(HaveOccurred())

				A, B := endpoint(alice), endpoint(bob)
				bobLog := logPhrases(ctx, bob)
				Expect(bobLog).To(HaveLen(7), "bob's whole log:\n%v", bobLog)
				Expect(bobLog[0]).To(Equal("prepare to create " + A))
				Expect(bobLog[1]).To(HavePrefix("create failed " + A + ": "))
				Expect(bobLog[2:]).To(Equal([]string{
					"server Forwarding Message",
					"prepare to create " + A,
					"created " + A,
					"send messages through p2p channel, current user ID is bob",
					"closed alice: " + protocol.ReasonLogout,
				}))
				aliceLog := logPhrases(ctx, alice)
				Expect(aliceLog).To(HaveLen(2), "alice's whole log:\n%v", aliceLog)
				Expect(aliceLog[0]).To(Equal("accepted " + B))
				Expect(aliceLog[1]).To(BeElementOf("closed bob: "+protocol.ReasonPeerOffline, "closed bob: "+protocol.ReasonConnectionLost))
			}, SpecTimeout(2*time.Minute))
		})
	}
})

var _ = Describe("Files", Label("files"), func() {
	for _, backend := range backends {
		Context("on "+backend, Label(backend), func() {
			It("arrive whole over the relay and over the channel (sha256 checked)", func(ctx SpecContext) {
				lab := startLab(ctx, backend, labConfig{clients: users[:2], manual: true})
				Expect(lab.Server().Start(ctx)).To(Succeed())
				Expect(lab.Client("alice").Start(ctx)).To(Succeed())
				undo, err := lab.Host("alice").Block(ctx, netlab_block_all_reject)
				Expect(err).NotTo(HaveOccurred())
				Expect(lab.Client("bob").Start(ctx)).To(Succeed())

				f, err := lab.SendFile(ctx, "bob", "alice", 300<<10)
				Expect(err).NotTo(HaveOccurred())
				Expect(lab.CheckFile(ctx, f, api.ViaRelay, 20*time.Second)).To(Succeed())

				Expect(undo(ctx)).To(Succeed())
				_, err = lab.Client("bob").Connect(ctx, "alice")
				Expect(err).NotTo(HaveOccurred())
				f, err = lab.SendFile(ctx, "bob", "alice", 2<<20)
				Expect(err).NotTo(HaveOccurred())
				Expect(lab.CheckFile(ctx, f, api.ViaP2P, 20*time.Second)).To(Succeed())
				f, err = lab.SendFile(ctx, "alice", "bob", 1) // the smallest file
				Expect(err).NotTo(HaveOccurred())
				Expect(lab.CheckFile(ctx, f, api.ViaP2P, 20*time.Second)).To(Succeed())
			}, SpecTimeout(2*time.Minute))
		})
	}
})

var _ = Describe("Exactly-once delivery", Label("exactly-once"), func() {
	for _, backend := range backends {
		Context("on "+backend, Label(backend), func() {
			It("delivers a message sent into a cut once, over the channel, when the link comes back before the teardown", func(ctx SpecContext) {
				// A long heartbeat gives the cut room to heal before anyone
				// notices: TCP retransmits the frame.
				lab := startLab(ctx, backend, labConfig{clients: users[:2], heartbeat: 2 * time.Second, misses: 3})
				Expect(lab.WaitChannels(ctx, sim.ChannelsExpect{Pairs: [][2]string{{"alice", "bob"}}}, sim.Mark{}, 5*time.Second)).To(Succeed())
				restore, err := lab.Host("bob").Cut(ctx)
				DeferCleanup(func(ctx SpecContext) { restore(ctx) })
				Expect(err).NotTo(HaveOccurred())
				s, err := lab.Chat(ctx, "alice", "bob", "into the cut")
				Expect(err).NotTo(HaveOccurred())
				Expect(s.Response.Via).To(Equal(api.ViaP2P))
				Expect(lab.Client("bob").NoEvent(ctx, s.Mark(), sim.Match{Type: api.EventChatReceived}, 300*time.Millisecond)).To(Succeed(), "nothing crosses a cut link")
				Expect(restore(ctx)).To(Succeed())
				Expect(lab.Delivered(ctx, s, 1, 10*time.Second, time.Second)).To(Succeed())
				_, err = lab.Client("alice").WaitEvent(ctx, s.Mark(), sim.Match{Type: api.EventChatAcked, MessageID: s.Response.MessageID}, 10*time.Second)
				Expect(err).NotTo(HaveOccurred())
			}, SpecTimeout(2*time.Minute))

			It("delivers a message sent into a dead channel once, through the server, after the heartbeat tears the channel down", func(ctx SpecContext) {
				lab := startLab(ctx, backend, labConfig{clients: users[:2], heartbeat: hb, misses: misses})
				Expect(lab.WaitChannels(ctx, sim.ChannelsExpect{Pairs: [][2]string{{"alice", "bob"}}}, sim.Mark{}, 5*time.Second)).To(Succeed())
				heal, err := lab.Host("alice").Partition(ctx, lab.Host("bob"), false)
				DeferCleanup(func(ctx SpecContext) { heal(ctx) })
				Expect(err).NotTo(HaveOccurred())
				s, err := lab.Chat(ctx, "alice", "bob", "into the dead channel")
				Expect(err).NotTo(HaveOccurred())
				Expect(s.Response.Via).To(Equal(api.ViaP2P))
				_, err = lab.Client("alice").WaitEvent(ctx, s.Mark(), sim.Match{Type: api.EventChannelClosed, Peer: "bob", Reasons: []string{protocol.ReasonHeartbeatTimeout}}, lab.TeardownBound())
				Expect(err).NotTo(HaveOccurred())
				Expect(lab.Delivered(ctx, s, 1, 5*time.Second, time.Second)).To(Succeed())
				_, err = lab.Client("bob").WaitEvent(ctx, s.Mark(), sim.Match{Type: api.EventChatReceived, MessageID: s.Response.MessageID, Via: api.ViaRelay}, 5*time.Second)
				Expect(err).NotTo(HaveOccurred())
			}, SpecTimeout(2*time.Minute))
		})
	}
})
