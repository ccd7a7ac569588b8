package docker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// BenchmarkDockerBringUp measures netlab.New plus Lab.Close on the docker
// backend for n hosts on one LAN: image build, network, one container per
// host with its address, then removal of all of it (the same work as
// netlab's BenchmarkBringUp on netns). ms-up/op and ms-down/op split the
// two halves. Run with -benchtime=1x (see docs/benchmarks.md).
func BenchmarkDockerBringUp(b *testing.B) {
	needDocker(b)
	bin := testBinary(b)
	for _, n := range []int{2, 10, 50} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			var up, down time.Duration
			for b.Loop() {
				topo := lanTopology(testSubnets(b, 1)[0], n)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				t0 := time.Now()
				l, err := netlab.New(ctx, New(), topo, netlab.Options{Dir: b.TempDir(), Binary: bin})
				t1 := time.Now()
				var cerr error
				if l != nil {
					cerr = l.Close(ctx)
				}
				t2 := time.Now()
				cancel()
				if err != nil || cerr != nil {
					b.Fatalf("new: %v; close: %v", err, cerr)
				}
				b.StopTimer()
				if left := leftovers(b, l.ID()); len(left) > 0 {
					b.Fatalf("left behind: %v", left)
				}
				b.StartTimer()
				up += t1.Sub(t0)
				down += t2.Sub(t1)
			}
			b.ReportMetric(float64(up.Milliseconds())/float64(b.N), "ms-up/op")
			b.ReportMetric(float64(down.Milliseconds())/float64(b.N), "ms-down/op")
		})
	}
}
