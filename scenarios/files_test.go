package scenarios_test

import (
	"fmt"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p2plab/p2plab/scenarios"
	"github.com/p2plab/p2plab/sim"
)

// Every shipped scenario file runs as a spec on every backend. The specs
// are made here, while the tree is built, before RunSpecs.
var _ = Describe("Shipped scenario files", func() {
	ss, err := sim.LoadScenarios(scenarios.FS)
	It("all load and validate", func() {
		Expect(err).NotTo(HaveOccurred())
		Expect(ss).NotTo(BeEmpty())
	})
	for _, backend := range backends {
		Context("on "+backend, Label(backend), func() {
			for _, s := range ss {
				It(s.ID+" ("+s.Level+"): "+s.Requirement, Label(s.Labels...), func(ctx SpecContext) {
					requireBackend(backend)
					r := sim.Run(ctx, s, sim.RunOptions{
						Backend: backend, NewBackend: newBackend(backend), Binary: binary, ServerCommand: serverCmd, ClientCommand: clientCmd,
						Artifacts: filepath.Join(artifactsRoot, backend), Progress: GinkgoWriter,
					})
					AddReportEntry("artifacts", r.Artifacts)
					if r.Err != nil {
						Fail(fmt.Sprintf("scenario %s failed:\n%s", s.File, r.Error))
					}
				}, SpecTimeout(s.Timeout+time.Minute))
			}
		})
	}
})
