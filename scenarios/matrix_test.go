package scenarios_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p2plab/p2plab/sim"
	"github.com/p2plab/p2plab/sim/matrix"
	"github.com/p2plab/p2plab/sim/matrixreport"
)

// The CI subset of the NAT-pair matrix (docs/matrix.md; the full one is
// `make matrix`): a TCP punch, the relay and the LAN path, twice each.
var _ = Describe("NAT-pair matrix", Label("matrix", "nat"), func() {
	for _, backend := range backends {
		Context("on "+backend, Label(backend), func() {
			run := func(ctx SpecContext, name, client string, trials int, pairs ...string) *matrixreport.Report {
				requireBackend(backend)
				dir := filepath.Join(artifactsRoot, backend, fmt.Sprintf("matrix-%s-%d", name, time.Now().UnixNano()%1e6))
				Expect(os.MkdirAll(dir, 0o755)).To(Succeed())
				rep, err := matrix.Run(ctx, matrix.Config{
					Only: pairs, Trials: trials, Parallel: len(pairs), Backend: backend, NewBackend: newBackend(backend),
					Binary: binary, ServerCommand: serverCmd, ClientCommand: client, Artifacts: dir, Log: GinkgoWriter,
				})
				Expect(err).NotTo(HaveOccurred())
				_, err = rep.WriteFiles(dir)
				Expect(err).NotTo(HaveOccurred())
				fmt.Fprintf(GinkgoWriter, "matrix reports in %s\n", dir)
				return rep
			}

			It("gets the oracle's path in every trial of three pairs and loses no message", func(ctx SpecContext) {
				rep := run(ctx, "subset", clientCmd, 2, "port-restricted-cone/port-restricted-cone", "symmetric/symmetric", "same-nat/same-nat")
				want := map[string]matrixreport.Path{
					"port-restricted-cone": matrixreport.PathTCPPunch, "symmetric": matrixreport.PathRelay, "same-nat": matrixreport.PathLAN,
				}
				Expect(rep.Cells).To(HaveLen(3))
				for _, c := range rep.Cells {
					if clientCmd != "" { // another implementation: it may lack v1.1
						Expect(c.Verdict).To(BeElementOf(matrixreport.Pass, matrixreport.Unsupported), "%s/%s: %s", c.Row, c.Col, c.Reason)
						continue
					}
					Expect(c.Verdict).To(Equal(matrixreport.Pass), "%s/%s: %s", c.Row, c.Col, c.Reason)
					Expect(c.Achieved).To(Equal(map[matrixreport.Path]int{want[c.Row]: 2}), "%s/%s", c.Row, c.Col)
					Expect(c.Delivered).To(Equal(c.Sent))
				}
			}, SpecTimeout(3*time.Minute))

			It("says unsupported, not failed, where a v1-only client falls back to the relay", func(ctx SpecContext) {
				if clientCmd != "" {
					Skip("runs the reference client with --v1")
				}
				rep := run(ctx, "v1", sim.DefaultClientCommand+" --v1", 1, "port-restricted-cone/port-restricted-cone", "none/none")
				for _, c := range rep.Cells {
					switch c.Row {
					case "port-restricted-cone":
						Expect(c.Verdict).To(Equal(matrixreport.Unsupported), c.Reason)
						Expect(c.Achieved).To(HaveKey(matrixreport.PathRelay))
					default:
						Expect(c.Verdict).To(Equal(matrixreport.Pass), c.Reason)
						Expect(c.Achieved).To(HaveKey(matrixreport.PathDirect))
					}
				}
			}, SpecTimeout(2*time.Minute))
		})
	}
})
