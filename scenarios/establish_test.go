package scenarios_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/sim"
)

var _ = Describe("Peer establishment", Label("establishment"), func() {
	for _, backend := range backends {
		Context("on "+backend, Label(backend), func() {
			It("gives two clients one channel, made by the newcomer, that both ends agree on", func(ctx SpecContext) {
				lab := startLab(ctx, backend, labConfig{clients: users[:2]})
				alice, bob := lab.Client("alice"), lab.Client("bob")

				Expect(lab.WaitChannels(ctx, sim.ChannelsExpect{Pairs: [][2]string{{"alice", "bob"}}, Exact: true}, sim.Mark{}, 5*time.Second)).To(Succeed())
				a, _ := channelTo(ctx, alice, "bob")
				b, _ := channelTo(ctx, bob, "alice")
				By("bob logged in last, so bob made the channel")
				Expect(a.Initiator).To(Equal("bob"))
				Expect(b.Initiator).To(Equal("bob"))
				Expect(a.Local).To(Equal(b.Remote))
				Expect(a.Remote).To(Equal(b.Local))
				Expect(b.Local).To(Equal(bob.Listen().String()), "the channel starts at bob's shared listen port")

				By("the logs tell the same story")
				Expect(logPhrases(ctx, bob)).To(ContainElements("prepare to create "+endpoint(alice), "created "+endpoint(alice)))
				Expect(logPhrases(ctx, alice)).To(ContainElement("accepted " + endpoint(bob)))

				By("chat goes p2p, proven three ways")
				s, err := lab.Chat(ctx, "alice", "bob", "hello over the channel")
				Expect(err).NotTo(HaveOccurred())
				_, err = lab.CheckPath(ctx, s, api.ViaP2P, 5*time.Second)
				Expect(err).NotTo(HaveOccurred())
			}, SpecTimeout(2*time.Minute))

			It("forms a full mesh of 45 channels among 10 clients, both ends of each agreeing", func(ctx SpecContext) {
				lab := startLab(ctx, backend, labConfig{clients: users[:10]})
				Expect(lab.WaitChannels(ctx, sim.ChannelsExpect{Mesh: []string{"all"}, Exact: true}, sim.Mark{}, 20*time.Second)).To(Succeed())
				state, err := lab.ChannelsState(ctx)
				Expect(err).NotTo(HaveOccurred())
				ends := 0
				for _, chs := range state {
					ends += len(chs)
				}
				Expect(ends).To(Equal(2*45), "45 channels, each seen from both ends")
				st, err := lab.Server().Stats(ctx)
				Expect(err).NotTo(HaveOccurred())
				Expect(st.Totals.Online).To(Equal(10))
			}, SpecTimeout(3*time.Minute))
		})
	}
})

var _ = Describe("Relay fallback", Label("relay"), func() {
	for _, backend := range backends {
		Context("on "+backend, Label(backend), func() {
			It("relays both ways while inbound connections to one client are refused, and connect restores p2p", func(ctx SpecContext) {
				lab := startLab(ctx, backend, labConfig{clients: users[:2], manual: true})
				Expect(lab.Server().Start(ctx)).To(Succeed())
				Expect(lab.Client("alice").Start(ctx)).To(Succeed())
				undo, err := lab.Host("alice").Block(ctx, netlab_block_all_reject)
				Expect(err).NotTo(HaveOccurred())
				Expect(lab.Client("bob").Start(ctx)).To(Succeed())

				By("bob's attempt fails, so there is no channel")
				Expect(lab.WaitLog(ctx, sim.LogExpect{At: "bob", Lines: []string{"prepare to create {alice}", "create failed {alice}: *"}}, lab.Mark(), 5*time.Second)).To(Succeed())
				Expect(lab.WaitChannels(ctx, sim.ChannelsExpect{Absent: [][2]string{{"alice", "bob"}}}, sim.Mark{}, time.Second)).To(Succeed())

				By("messages both ways go through the server, proven three ways")
				for _, p := range [][2]string{{"alice", "bob"}, {"bob", "alice"}} {
					s, err := lab.Chat(ctx, p[0], p[1], "relayed "+p[0]+" to "+p[1])
					Expect(err).NotTo(HaveOccurred())
					_, err = lab.CheckPath(ctx, s, api.ViaRelay, 5*time.Second)
					Expect(err).NotTo(HaveOccurred())
				}

				By("unblocking and connecting restores p2p")
				Expect(undo(ctx)).To(Succeed())
				_, err = lab.Client("bob").Connect(ctx, "alice")
				Expect(err).NotTo(HaveOccurred())
				Expect(lab.WaitChannels(ctx, sim.ChannelsExpect{Pairs: [][2]string{{"alice", "bob"}}}, sim.Mark{}, 5*time.Second)).To(Succeed())
				s, err := lab.Chat(ctx, "alice", "bob", "direct again")
				Expect(err).NotTo(HaveOccurred())
				_, err = lab.CheckPath(ctx, s, api.ViaP2P, 5*time.Second)
				Expect(err).NotTo(HaveOccurred())
			}, SpecTimeout(2*time.Minute))
		})
	}
})
