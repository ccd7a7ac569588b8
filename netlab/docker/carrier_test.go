package docker

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/p2plab/p2plab/netlab"
)

func TestCarrierSubnets(t *testing.T) {
	for _, tc := range []struct {
		lan  string
		bits int
	}{{"198.18.1.0/24", 23}, {"198.19.101.0/28", 27}, {"198.18.0.0/16", 20}, {"198.18.1.0/30", 28}} {
		bits := carrierBits(netip.MustParsePrefix(tc.lan))
		if bits != tc.bits {
			t.Errorf("carrierBits(%s) = %d, want %d", tc.lan, bits, tc.bits)
		}
		seen := map[netip.Prefix]bool{}
		for i := range carrierCandidates(bits) {
			p, err := carrierSubnet(CarrierPool, "run", "lan", bits, i)
			if err != nil {
				t.Fatal(err)
			}
			if p.Bits() != bits || p != p.Masked() || !CarrierPool.Contains(p.Addr()) || seen[p] {
				t.Fatalf("candidate %d for %s = %s: not a new /%d in %s", i, tc.lan, p, bits, CarrierPool)
			}
			seen[p] = true
		}
	}
	if _, err := carrierSubnet(CarrierPool, "run", "lan", 12, 0); err == nil {
		t.Fatal("a carrier larger than the pool was accepted")
	}
}

// A carrier subnet another network holds is refused by the engine; the
// LAN's network gets the next candidate.
func TestCarrierOverlapIsRetried(t *testing.T) {
	needDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := testRunID(t)
	subnet := testSubnets(t, 1)[0]
	first, err := carrierSubnet(CarrierPool, run, "lan1", carrierBits(subnet), 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newProvider(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	t.Cleanup(func() { assertNoLeftovers(t, run) }) // after the blocker's removal
	blocker := networkName(run, "blocker")
	res, err := p.Client().NetworkCreate(ctx, blocker, client.NetworkCreateOptions{
		Driver: "bridge",
		IPAM:   &network.IPAM{Config: []network.IPAMConfig{{Subnet: first}}},
	})
	if err != nil {
		t.Fatalf("blocker network on %s: %v", first, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := p.Client().NetworkRemove(ctx, res.ID, client.NetworkRemoveOptions{}); err != nil {
			t.Errorf("remove blocker: %v", err)
		}
	})

	b := New()
	cfg := netlab.Config{RunID: run, Dir: t.TempDir(), Topology: lanTopology(subnet, 1), Binary: testBinary(t)}
	t.Cleanup(func() { _ = b.Destroy(context.Background()) })
	if err := b.Create(ctx, cfg); err != nil {
		t.Fatalf("Create with the first carrier taken: %v", err)
	}
	ins, err := p.Client().NetworkInspect(ctx, networkName(run, "lan1"), client.NetworkInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := carrierSubnet(CarrierPool, run, "lan1", carrierBits(subnet), 1)
	if c := ins.Network.IPAM.Config; len(c) != 1 || c[0].Subnet != want {
		t.Fatalf("LAN network IPAM = %+v, want the second candidate %s", c, want)
	}
}
