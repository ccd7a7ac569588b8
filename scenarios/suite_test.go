package scenarios_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p2plab/p2plab/internal/selfbuild"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/netlab/docker"
	"github.com/p2plab/p2plab/sim"
)

// The suite runs every spec on each backend, labelled by the backend's
// name: `go test ./scenarios/... -ginkgo.label-filter=netns`.
var backends = []string{sim.BackendNetns, sim.BackendDocker}

// SuiteTimeout bounds the whole suite; `go test -timeout` must be above it
// (a go test timeout panic skips every cleanup).
const SuiteTimeout = 12 * time.Minute

func TestScenarios(t *testing.T) {
	RegisterFailHandler(Fail)
	sc, rc := GinkgoConfiguration()
	if sc.Timeout == time.Hour { // Ginkgo's default: not set by the caller
		sc.Timeout = SuiteTimeout
	}
	RunSpecs(t, "p2plab scenarios", sc, rc)
}

var (
	binary        string // the static p2plab binary every lab runs
	artifactsRoot string
)

// Environment knobs, for putting another implementation under test.
var (
	serverCmd = os.Getenv("P2PLAB_SERVER_CMD") // a role command template, see sim.DefaultServerCommand
	clientCmd = os.Getenv("P2PLAB_CLIENT_CMD")
)

var _ = SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
	// Build p2plab once, static, so the docker backend can use it too.
	dir, err := os.MkdirTemp("", "p2plab-suite-")
	Expect(err).NotTo(HaveOccurred())
	bin, err := selfbuild.Binary(ctx, dir)
	Expect(err).NotTo(HaveOccurred())
	root := repoRoot()
	art := os.Getenv("P2PLAB_ARTIFACTS")
	if art == "" {
		art = filepath.Join(root, "artifacts", "test-"+time.Now().Format("20060102-150405"))
	}
	Expect(os.MkdirAll(art, 0o755)).To(Succeed())
	return []byte(bin + "\n" + art)
}, func(data []byte) {
	binary, artifactsRoot, _ = strings.Cut(string(data), "\n")
	artifactsRoot = filepath.Join(artifactsRoot, fmt.Sprintf("p%d", GinkgoParallelProcess()))
}, NodeTimeout(5*time.Minute))

var _ = SynchronizedAfterSuite(func(ctx SpecContext) {
	if err := dockerImage.Remove(ctx); err != nil {
		fmt.Fprintf(GinkgoWriter, "remove the suite's docker image: %v\n", err)
	}
}, func() {
	os.RemoveAll(filepath.Dir(binary))
	fmt.Fprintf(GinkgoWriter, "artifacts: %s\n", filepath.Dir(artifactsRoot))
})

func repoRoot() string {
	root, err := selfbuild.Root()
	Expect(err).NotTo(HaveOccurred())
	return root
}

var (
	dockerOnce  sync.Once
	dockerErr   error
	dockerImage *docker.Image // built once per suite process, shared by its docker labs
)

// newBackend makes a spec's backend: docker labs share the suite's image
// instead of each building its own.
func newBackend(backend string) func(ctx context.Context) (netlab.Backend, error) {
	if backend != sim.BackendDocker {
		return nil
	}
	return func(ctx context.Context) (netlab.Backend, error) {
		return docker.New().WithImage(dockerImage)
	}
}

// requireBackend skips the spec, saying why, when the backend cannot run
// here: netns and docker need root; docker needs an engine that answers.
func requireBackend(backend string) {
	if os.Geteuid() != 0 {
		Skip(fmt.Sprintf("%s backend needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) to make namespaces; run as root", backend))
	}
	if backend == sim.BackendDocker {
		dockerOnce.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if dockerErr = docker.Available(ctx); dockerErr != nil {
				return
			}
			bctx, bcancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer bcancel()
			dockerImage, dockerErr = docker.BuildImage(bctx, binary)
		})
		if dockerErr != nil {
			Skip("docker backend skipped: no Docker engine answers: " + dockerErr.Error())
		}
	}
}
