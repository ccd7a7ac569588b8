package reliability_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p2plab/p2plab/internal/selfbuild"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/sim"
)

// DefaultFilter keeps the heavy specs out of a plain `go test` (and so out
// of `make test`); `make load`, `make chaos` and `make hostile` select them
// by label.
const DefaultFilter = "!load && !chaos && !hostile"

// SuiteTimeout bounds the suite unless -ginkgo.timeout says otherwise;
// go test's -timeout must be above it.
const SuiteTimeout = 10 * time.Minute

func TestReliability(t *testing.T) {
	RegisterFailHandler(Fail)
	sc, rc := GinkgoConfiguration()
	if sc.LabelFilter == "" {
		sc.LabelFilter = DefaultFilter
	}
	if sc.Timeout == time.Hour { // Ginkgo's default: not set by the caller
		sc.Timeout = SuiteTimeout
	}
	RunSpecs(t, "p2plab reliability", sc, rc)
}

var (
	p2plabBin     string // the static p2plab binary the labs run
	artifactsRoot string
)

var _ = SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
	if os.Geteuid() != 0 {
		return []byte("\n")
	}
	dir, err := os.MkdirTemp("", "p2plab-reliability-")
	Expect(err).NotTo(HaveOccurred())
	bin, err := selfbuild.Binary(ctx, dir)
	Expect(err).NotTo(HaveOccurred())
	root := repoRoot()
	art := os.Getenv("P2PLAB_ARTIFACTS")
	if art == "" {
		art = filepath.Join(root, "artifacts", "reliability-"+time.Now().Format("20060102-150405"))
	}
	return []byte(bin + "\n" + art)
}, func(data []byte) {
	p2plabBin, artifactsRoot, _ = strings.Cut(string(data), "\n")
	if artifactsRoot != "" {
		artifactsRoot = filepath.Join(artifactsRoot, fmt.Sprintf("p%d", GinkgoParallelProcess()))
	}
}, NodeTimeout(5*time.Minute))

var _ = SynchronizedAfterSuite(func() {}, func() {
	if p2plabBin != "" {
		os.RemoveAll(filepath.Dir(p2plabBin))
	}
})

func repoRoot() string {
	root, err := selfbuild.Root()
	Expect(err).NotTo(HaveOccurred())
	return root
}

// requireRoot skips a lab spec, saying why, when namespaces cannot be made.
func requireRoot() {
	if os.Geteuid() != 0 {
		Skip("the netns lab needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN); run as root")
	}
}

// oneLAN is a topology of the named hosts on one LAN.
func oneLAN(hosts ...string) netlab.Topology {
	t := netlab.Topology{LANs: []netlab.LAN{{Name: "lan", Subnet: sim.DefaultSubnet}}}
	for _, h := range hosts {
		t.Hosts = append(t.Hosts, netlab.HostSpec{Name: h, NICs: []netlab.NIC{{LAN: "lan"}}})
	}
	return t
}

// startLab brings up a netns lab (manual: no program started) and registers
// its removal before looking at the error.
func startLab(ctx context.Context, name string, o sim.Options) *sim.Lab {
	requireRoot()
	o.Backend = sim.BackendNetns
	o.Binary = p2plabBin
	o.Manual = true
	o.Capture = os.Getenv("P2PLAB_CAPTURE") != ""
	o.Artifacts = filepath.Join(artifactsRoot, fmt.Sprintf("%s-%d", name, time.Now().UnixNano()%1e6))
	lab, err := sim.Start(ctx, o)
	DeferCleanup(func(ctx SpecContext) {
		if lab != nil {
			AddReportEntry("artifacts", lab.Artifacts())
			Expect(lab.Close(ctx)).To(Succeed())
		}
	}, NodeTimeout(2*time.Minute))
	Expect(err).NotTo(HaveOccurred())
	return lab
}
