package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/sim"
)

// binary is the static p2plab binary the labs run, built once by TestMain
// (only when a benchmark runs as root).
var (
	binary    string
	binaryErr error
	buildOnce sync.Once
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// needLab skips b unless it runs as root, and returns the p2plab binary.
func needLab(b *testing.B) string {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("bench: needs root (network namespaces for the lab hosts); run `make bench` or `sudo go test -bench . ./bench/`")
	}
	buildOnce.Do(func() {
		if bin := os.Getenv("P2PLAB_BENCH_BINARY"); bin != "" { // e.g. a patched build, for before/after figures
			binary = bin
			return
		}
		buildDir, binaryErr = os.MkdirTemp("", "p2plab-bench-")
		if binaryErr != nil {
			return
		}
		bin := filepath.Join(buildDir, "p2plab")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/p2plab")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("go build ./cmd/p2plab: %v\n%s", err, out)
			return
		}
		binary = bin
	})
	if binaryErr != nil {
		b.Fatal(binaryErr)
	}
	return binary
}

// userName is the i-th client's user ID (sorted order = index order).
func userName(i int) string { return fmt.Sprintf("u%03d", i) }

// lanTopology is a server and n client hosts on one LAN.
func lanTopology(n int) (netlab.Topology, []string) {
	t := netlab.Topology{LANs: []netlab.LAN{{Name: "lan", Subnet: sim.DefaultSubnet}}}
	t.Hosts = append(t.Hosts, netlab.HostSpec{Name: "server", NICs: []netlab.NIC{{LAN: "lan"}}})
	var users []string
	for i := range n {
		u := userName(i)
		users = append(users, u)
		t.Hosts = append(t.Hosts, netlab.HostSpec{Name: u, NICs: []netlab.NIC{{LAN: "lan"}}})
	}
	return t, users
}

// labOpts are the options of a bench lab: n clients, manual start.
type labOpts struct {
	clients   int
	heartbeat time.Duration
	misses    int
	serverCmd string // "" = sim's default
	clientCmd string
}

// startLab brings up a lab whose programs the caller starts (Manual). Its
// Close is registered with b.Cleanup before the error is looked at.
func startLab(b *testing.B, ctx context.Context, o labOpts) (*sim.Lab, []string) {
	b.Helper()
	topo, users := lanTopology(o.clients)
	return startSimLab(b, ctx, sim.Options{
		Topology: topo, Clients: users,
		Heartbeat: o.heartbeat, Misses: o.misses,
		ServerCommand: o.serverCmd, ClientCommand: o.clientCmd,
		StartTimeout: 60 * time.Second,
	}), users
}

// startSimLab starts a manual lab of so with the benchmark's binary and
// artifacts folder (P2PLAB_BENCH_ARTIFACTS/<benchmark>, else a temporary
// one). Its Close is registered with b.Cleanup before the error is looked
// at.
func startSimLab(b *testing.B, ctx context.Context, so sim.Options) *sim.Lab {
	b.Helper()
	so.Binary, so.Manual = needLab(b), true
	so.Artifacts = b.TempDir()
	if root := os.Getenv("P2PLAB_BENCH_ARTIFACTS"); root != "" {
		so.Artifacts = filepath.Join(root, strings.NewReplacer("/", "_", "=", "-").Replace(b.Name()))
	}
	lab, err := sim.Start(ctx, so)
	b.Cleanup(func() {
		if lab != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := lab.Close(cctx); err != nil {
				b.Errorf("close lab: %v", err)
			}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	return lab
}

// startClients starts the given clients concurrently (at most par at a
// time) and returns when every one is online.
func startClients(ctx context.Context, lab *sim.Lab, users []string, par int) error {
	sem := make(chan struct{}, par)
	errs := make(chan error, len(users))
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := lab.Client(u).Start(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs // nil when none failed
}

// clientPID finds the pid of the client program of user in lab.
func clientPID(lab *sim.Lab, user string) (int, error) {
	c := lab.Client(user)
	pids, err := FindPIDs("--user", user, "--control", c.Host().Path(filepath.Join(c.Host().Dir(), "control.sock")))
	if err != nil {
		return 0, err
	}
	if len(pids) != 1 {
		return 0, fmt.Errorf("bench: client %s: %d processes match (%v)", user, len(pids), pids)
	}
	return pids[0], nil
}

// serverPID finds the pid of the lab's server program (the only process
// whose argv holds this lab's server listen address and "server", started
// with the lab's binary).
func serverPID(lab *sim.Lab) (int, error) {
	pids, err := FindPIDs(binary, "server", "--listen", lab.Server().Addr().String())
	if err != nil {
		return 0, err
	}
	if len(pids) != 1 {
		return 0, fmt.Errorf("bench: server: %d processes match (%v)", len(pids), pids)
	}
	return pids[0], nil
}

// small reports whether P2PLAB_BENCH_SMALL asks for the small sizes only
// (while developing on a shared machine).
func small() bool { return os.Getenv("P2PLAB_BENCH_SMALL") != "" }
