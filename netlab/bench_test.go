package netlab_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/p2plab/p2plab/netlab"
)

// BenchmarkBringUp brings up and tears down n bare hosts on one LAN with
// the netns backend: namespaces, veths, bridge, addresses, then Close.
// Compare with Mininet 2.3.0 on the same machine (docs/benchmarks.md).
func BenchmarkBringUp(b *testing.B) {
	needRoot(b)
	for _, n := range []int{10, 50, 100, 200} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			topo := netlab.Topology{LANs: []netlab.LAN{{Name: "lan", Subnet: netip.MustParsePrefix("198.18.0.0/16")}}}
			for i := range n {
				topo.Hosts = append(topo.Hosts, netlab.HostSpec{Name: fmt.Sprintf("h%d", i), NICs: []netlab.NIC{{LAN: "lan"}}})
			}
			ctx := context.Background()
			for b.Loop() {
				l, err := netlab.New(ctx, netlab.NewNetns(), topo, netlab.Options{Dir: b.TempDir()})
				if l != nil {
					if cerr := l.Close(ctx); cerr != nil {
						b.Fatal(cerr)
					}
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
