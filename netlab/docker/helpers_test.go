package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/p2plab/p2plab/netlab"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// needDocker skips the test, saying why, when no engine answers or when
// not root (NetNS needs root).
func needDocker(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Available(ctx); err != nil {
		t.Skipf("SKIP docker backend tests: no Docker engine answers: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("SKIP docker backend tests: need root (container namespaces)")
	}
}

// testBinary builds the static p2plab binary once per test binary.
func testBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "p2pl-dockertest-bin-")
		if binErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		binPath, binErr = BuildBinary(ctx, binDir)
	})
	if binErr != nil {
		t.Fatalf("build p2plab: %v", binErr)
	}
	return binPath
}

// testRunID is a fresh run id.
func testRunID(t testing.TB) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return netlab.Prefix + "dt" + hex.EncodeToString(b[:])
}

// testSubnets returns n distinct /24s inside the lab range, picked at
// random from 198.19.100-249.0 so that concurrent docker labs of other
// packages (which tend to use 198.18.x) rarely overlap with ours.
func testSubnets(t testing.TB, n int) []netip.Prefix {
	start, err := rand.Int(rand.Reader, big.NewInt(int64(150-n)))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]netip.Prefix, n)
	for i := range n {
		out[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(100 + int(start.Int64()) + i), 0}), 24)
	}
	return out
}

// lanTopology is hosts h1..hn on one LAN, addresses .2, .3, ...
func lanTopology(subnet netip.Prefix, n int) netlab.Topology {
	t := netlab.Topology{LANs: []netlab.LAN{{Name: "lan1", Subnet: subnet}}}
	a := subnet.Addr().Next()
	for i := range n {
		a = a.Next()
		t.Hosts = append(t.Hosts, netlab.HostSpec{Name: fmt.Sprintf("h%d", i+1), NICs: []netlab.NIC{{LAN: "lan1", Addr: a}}})
	}
	return t
}

// created creates a lab on a new Backend and registers its destruction and
// the leak check before looking at the error.
func created(t *testing.T, topo netlab.Topology) (*Backend, netlab.Config) {
	t.Helper()
	cfg := netlab.Config{RunID: testRunID(t), Dir: t.TempDir(), Topology: topo, Binary: testBinary(t)}
	b := New()
	t.Cleanup(func() { assertNoLeftovers(t, cfg.RunID) })
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := b.Destroy(ctx); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := b.Create(ctx, cfg); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return b, cfg
}

// leftovers lists the containers, networks and images of a run, found both
// by label and by name.
func leftovers(t testing.TB, runID string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := newProvider(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cli := p.Client()
	prefix := runName(runID)
	var out []string
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs.Items {
		if c.Labels[LabelRun] == runID || (len(c.Names) > 0 && strings.HasPrefix(c.Names[0], "/"+prefix)) {
			out = append(out, fmt.Sprintf("container %v", c.Names))
		}
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns.Items {
		if n.Labels[LabelRun] == runID || strings.HasPrefix(n.Name, prefix) {
			out = append(out, "network "+n.Name)
		}
	}
	is, err := cli.ImageList(ctx, client.ImageListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range is.Items {
		for _, tag := range im.RepoTags {
			if strings.HasPrefix(tag, prefix) {
				out = append(out, "image "+tag)
			}
		}
		if im.Labels[LabelRun] == runID && len(im.RepoTags) == 0 {
			out = append(out, "image "+im.ID)
		}
	}
	return out
}

// assertNoLeftovers fails the test if anything of the run is still there.
func assertNoLeftovers(t *testing.T, runID string) {
	t.Helper()
	if left := leftovers(t, runID); len(left) > 0 {
		t.Errorf("run %s left behind: %v", runID, left)
	}
}

// waitFile polls a file until it contains want or the deadline passes.
func waitFile(t *testing.T, path, want string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q within %s; it holds %q", path, want, within, b)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}
