package docker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// BenchmarkDockerBringUp measures Create plus Destroy of one LAN with n
// hosts: image build, network, one container per host, then removal of
// all of it. Run with -benchtime=1x (see docs/benchmarks.md).
func BenchmarkDockerBringUp(b *testing.B) {
	needDocker(b)
	bin := testBinary(b)
	for _, n := range []int{2, 10, 50} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			var up, down time.Duration
			for b.Loop() {
				cfg := netlab.Config{RunID: testRunID(b), Dir: b.TempDir(), Topology: lanTopology(testSubnets(b, 1)[0], n), Binary: bin}
				be := New()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				t0 := time.Now()
				err := be.Create(ctx, cfg)
				t1 := time.Now()
				derr := be.Destroy(ctx)
				t2 := time.Now()
				cancel()
				if err != nil || derr != nil {
					b.Fatalf("create: %v; destroy: %v", err, derr)
				}
				if left := leftovers(b, cfg.RunID); len(left) > 0 {
					b.Fatalf("left behind: %v", left)
				}
				up += t1.Sub(t0)
				down += t2.Sub(t1)
			}
			b.ReportMetric(float64(up.Milliseconds())/float64(b.N), "ms-up/op")
			b.ReportMetric(float64(down.Milliseconds())/float64(b.N), "ms-down/op")
		})
	}
}
