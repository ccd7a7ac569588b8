package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	restoreNeigh()
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
		raiseNeigh()
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
	bin := needLab(b)
	topo, users := lanTopology(o.clients)
	art := b.TempDir()
	if root := os.Getenv("P2PLAB_BENCH_ARTIFACTS"); root != "" {
		art = filepath.Join(root, strings.NewReplacer("/", "_", "=", "-").Replace(b.Name()))
	}
	lab, err := sim.Start(ctx, sim.Options{
		Topology: topo, Clients: users, Binary: bin, Manual: true,
		Heartbeat: o.heartbeat, Misses: o.misses,
		ServerCommand: o.serverCmd, ClientCommand: o.clientCmd,
		Artifacts: art, StartTimeout: 60 * time.Second,
	})
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
	return lab, users
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

// The kernel's ARP table is one table for every network namespace, with
// machine-wide limits (net.ipv4.neigh.default.gc_thresh1/2/3, by default
// 128/512/1024). A full mesh of n lab hosts needs about n*n entries, so
// beyond ~30 clients dials fail with "neighbor table overflow" in dmesg.
// The benchmarks raise the limits for their run and put the old values
// back at the end (TestMain).
var (
	neighKeys = []string{"gc_thresh1", "gc_thresh2", "gc_thresh3"}
	neighWant = []int{4096, 65536, 131072}
	neighOld  []string
)

func neighPath(k string) string { return "/proc/sys/net/ipv4/neigh/default/" + k }

func raiseNeigh() {
	for i, k := range neighKeys {
		b, err := os.ReadFile(neighPath(k))
		if err != nil {
			neighOld = nil
			return
		}
		neighOld = append(neighOld, strings.TrimSpace(string(b)))
		if v, err := strconv.Atoi(neighOld[i]); err == nil && v >= neighWant[i] {
			continue
		}
		// Raise thresh3 before thresh2 before thresh1 would be stricter,
		// but the kernel does not check their order.
		if err := os.WriteFile(neighPath(k), []byte(strconv.Itoa(neighWant[i])), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "bench: raise %s: %v (large meshes may fail with neighbor table overflow)\n", k, err)
		}
	}
}

func restoreNeigh() {
	for i, v := range neighOld {
		if err := os.WriteFile(neighPath(neighKeys[i]), []byte(v), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "bench: restore %s=%s: %v\n", neighKeys[i], v, err)
		}
	}
}
