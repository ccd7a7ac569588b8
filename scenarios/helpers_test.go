package scenarios_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/sim"
)

// users gives n clients names in alphabetical order.
var users = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"}

// lanOf is a server and the clients on one LAN.
func lanOf(clients ...string) netlab.Topology {
	t := netlab.Topology{LANs: []netlab.LAN{{Name: "lan", Subnet: sim.DefaultSubnet}}}
	for _, h := range append([]string{"server"}, clients...) {
		t.Hosts = append(t.Hosts, netlab.HostSpec{Name: h, NICs: []netlab.NIC{{LAN: "lan"}}})
	}
	return t
}

// labConfig is what a hand-written spec asks for.
type labConfig struct {
	clients   []string
	heartbeat time.Duration
	misses    int
	manual    bool
}

// startLab brings a lab up for the current spec and registers its removal
// before looking at the error, so a failed start cleans up too.
func startLab(ctx context.Context, backend string, c labConfig) *sim.Lab {
	requireBackend(backend)
	name := strings.NewReplacer(" ", "-", "/", "-", ",", "", "\"", "", "(", "", ")", "").Replace(CurrentSpecReport().LeafNodeText)
	if len(name) > 60 {
		name = name[:60]
	}
	lab, err := sim.Start(ctx, sim.Options{
		Backend: backend, NewBackend: newBackend(backend), Topology: lanOf(c.clients...), Clients: c.clients,
		Heartbeat: c.heartbeat, Misses: c.misses, Binary: binary, Manual: c.manual,
		ServerCommand: serverCmd, ClientCommand: clientCmd,
		Artifacts: filepath.Join(artifactsRoot, backend, fmt.Sprintf("%s-%d", name, time.Now().UnixNano()%1e6)),
	})
	DeferCleanup(func(ctx SpecContext) {
		if lab != nil {
			AddReportEntry("artifacts", lab.Artifacts())
			Expect(lab.Close(ctx)).To(Succeed())
		}
	}, NodeTimeout(90*time.Second))
	Expect(err).NotTo(HaveOccurred())
	return lab
}

// logPhrases returns a client's P2PInfo log phrases (no timestamps); every
// line must parse.
func logPhrases(ctx context.Context, c *sim.Client) []string {
	es, err := c.Log(ctx)
	Expect(err).NotTo(HaveOccurred())
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Phrase()
	}
	return out
}

// endpoint renders user:IP:PORT as the log writes it.
func endpoint(c *sim.Client) string {
	ap := c.Listen()
	return fmt.Sprintf("%s:%s:%d", c.User(), ap.Addr(), ap.Port())
}

// channelTo returns c's channel to peer, or false.
func channelTo(ctx context.Context, c *sim.Client, peer string) (api.Channel, bool) {
	chs, err := c.Channels(ctx)
	Expect(err).NotTo(HaveOccurred())
	for _, ch := range chs {
		if ch.Peer == peer {
			return ch, true
		}
	}
	return api.Channel{}, false
}
