package docker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"
	"go.uber.org/goleak"

	"github.com/p2plab/p2plab/netlab"
)

// startEcho starts "p2plab netcheck -listen addr" in a host and waits until
// it says it listens.
func startEcho(t *testing.T, b *Backend, cfg netlab.Config, host, addr string) netlab.Process {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := filepath.Join(cfg.Dir, "hosts", host, "echo.out")
	p, err := b.Start(ctx, host, netlab.Command{
		Argv:   []string{b.Binary(), "netcheck", "-listen", addr},
		Stdout: out, Stderr: out,
	})
	if err != nil {
		t.Fatalf("start echo in %s: %v", host, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = p.Kill(ctx)
	})
	waitFile(t, out, "listening", 20*time.Second)
	return p
}

// dialFrom runs "p2plab netcheck -dial" in a host and returns its stdout.
func dialFrom(t *testing.T, b *Backend, cfg netlab.Config, host string, to netip.AddrPort, msg string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := filepath.Join(cfg.Dir, "hosts", host, "dial.out")
	errf := filepath.Join(cfg.Dir, "hosts", host, "dial.err")
	p, err := b.Start(ctx, host, netlab.Command{
		Argv:   []string{b.Binary(), "netcheck", "-dial", to.String(), "-msg", msg, "-timeout", "3s"},
		Stdout: out, Stderr: errf,
	})
	if err != nil {
		t.Fatalf("start dial in %s: %v", host, err)
	}
	werr := p.Wait(ctx)
	stdout, _ := os.ReadFile(out)
	stderr, _ := os.ReadFile(errf)
	if werr != nil {
		return string(stdout), fmt.Errorf("%w: %s", werr, stderr)
	}
	return string(stdout), nil
}

// echoUnix talks to a netcheck server over a unix socket from the lab side.
func echoUnix(path, msg string, within time.Duration) (string, error) {
	c, err := net.DialTimeout("unix", path, within)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(within))
	if _, err := fmt.Fprintf(c, "%s\n", msg); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func TestBytesCrossTheLAN(t *testing.T) {
	needDocker(t)
	sub := testSubnets(t, 1)[0]
	b, cfg := created(t, lanTopology(sub, 2))
	h1 := cfg.Topology.Hosts[0].NICs[0].Addr
	srv := startEcho(t, b, cfg, "h1", netip.AddrPortFrom(h1, 7000).String())

	got, err := dialFrom(t, b, cfg, "h2", netip.AddrPortFrom(h1, 7000), "hello")
	if err != nil {
		t.Fatalf("dial h1 from h2: %v", err)
	}
	if want := fmt.Sprintf("echo hello from %s:7000", h1); !strings.Contains(got, want) {
		t.Fatalf("h2 got %q, want %q", got, want)
	}

	// SIGTERM through the engine stops the server cleanly (exit status 0).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Stop(ctx, 10*time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := srv.Wait(ctx); err != nil {
		t.Fatalf("server exit after SIGTERM: %v, want status 0", err)
	}
	// Nobody listens any more: the dial fails.
	if got, err := dialFrom(t, b, cfg, "h2", netip.AddrPortFrom(h1, 7000), "again"); err == nil {
		t.Fatalf("dial after stop succeeded: %q", got)
	}
}

func TestNetNSHasTheHostAddresses(t *testing.T) {
	needDocker(t)
	subs := testSubnets(t, 2)
	topo := netlab.Topology{
		LANs: []netlab.LAN{{Name: "a", Subnet: subs[0]}, {Name: "b", Subnet: subs[1]}},
		Hosts: []netlab.HostSpec{
			{Name: "r", Router: true, NICs: []netlab.NIC{{LAN: "a", Addr: subs[0].Addr().Next().Next()}, {LAN: "b", Addr: subs[1].Addr().Next().Next().Next()}}},
			{Name: "x", NICs: []netlab.NIC{{LAN: "b", Addr: subs[1].Addr().Next().Next()}}},
		},
	}
	b, _ := created(t, topo)
	ctx := context.Background()
	tests := []struct {
		host      string
		want      []netip.Addr
		forwarder bool
	}{
		{"r", []netip.Addr{topo.Hosts[0].NICs[0].Addr, topo.Hosts[0].NICs[1].Addr}, true},
		{"x", []netip.Addr{topo.Hosts[1].NICs[0].Addr}, false},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			ns, err := b.NetNS(ctx, tc.host)
			if err != nil {
				t.Fatal(err)
			}
			defer ns.Close()
			nh, err := netlink.NewHandleAt(ns)
			if err != nil {
				t.Fatal(err)
			}
			defer nh.Close()
			addrs, err := netlab.RetryDump(func() ([]netlink.Addr, error) { return nh.AddrList(nil, netlink.FAMILY_V4) })
			if err != nil {
				t.Fatal(err)
			}
			have := map[netip.Addr]bool{}
			for _, a := range addrs {
				ip, _ := netip.AddrFromSlice(a.IP.To4())
				have[ip] = true
			}
			for _, w := range tc.want {
				if !have[w] {
					t.Errorf("namespace of %s lacks %s; has %v", tc.host, w, have)
				}
			}
			if len(have) != len(tc.want)+1 { // + 127.0.0.1
				t.Errorf("namespace of %s has %v, want exactly %v and loopback", tc.host, have, tc.want)
			}
			routes, err := netlab.RetryDump(func() ([]netlink.Route, error) { return nh.RouteList(nil, netlink.FAMILY_V4) })
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range routes {
				if r.Dst == nil || r.Dst.IP.IsUnspecified() {
					t.Errorf("host %s has a default route %v: the lab must have no way out", tc.host, r)
				}
			}
		})
	}
}

func TestMountCarriesUnixSockets(t *testing.T) {
	needDocker(t)
	b, cfg := created(t, lanTopology(testSubnets(t, 1)[0], 1))
	outside, inside := b.Mount("h1")
	if outside != filepath.Join(cfg.Dir, "hosts", "h1") || inside != MountPath {
		t.Fatalf("Mount = %s, %s", outside, inside)
	}
	startEcho(t, b, cfg, "h1", "unix:"+inside+"/echo.sock")
	got, err := echoUnix(filepath.Join(outside, "echo.sock"), "ctl", 5*time.Second)
	if err != nil {
		t.Fatalf("unix socket of h1 from the lab: %v", err)
	}
	if want := "echo ctl from " + inside + "/echo.sock"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestFreezeThaw(t *testing.T) {
	needDocker(t)
	b, cfg := created(t, lanTopology(testSubnets(t, 1)[0], 1))
	outside, inside := b.Mount("h1")
	startEcho(t, b, cfg, "h1", "unix:"+inside+"/echo.sock")
	sock := filepath.Join(outside, "echo.sock")
	ctx := context.Background()
	if err := b.Freeze(ctx, "h1"); err != nil {
		t.Fatal(err)
	}
	thawed := false
	t.Cleanup(func() {
		if !thawed {
			_ = b.Thaw(context.Background(), "h1")
		}
	})
	// Frozen: the kernel queues the connection but nobody answers.
	if got, err := echoUnix(sock, "frozen", 700*time.Millisecond); err == nil {
		t.Fatalf("a frozen host answered %q", got)
	}
	if err := b.Thaw(ctx, "h1"); err != nil {
		t.Fatal(err)
	}
	thawed = true
	if got, err := echoUnix(sock, "thawed", 5*time.Second); err != nil || !strings.HasPrefix(got, "echo thawed") {
		t.Fatalf("after thaw: %q, %v", got, err)
	}
}

func TestKillKeepsTheHost(t *testing.T) {
	needDocker(t)
	sub := testSubnets(t, 1)[0]
	b, cfg := created(t, lanTopology(sub, 2))
	h1 := cfg.Topology.Hosts[0].NICs[0].Addr
	ap := netip.AddrPortFrom(h1, 7001)
	srv := startEcho(t, b, cfg, "h1", ap.String())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if srv.Pid() <= 0 {
		t.Errorf("Pid = %d", srv.Pid())
	}
	if err := srv.Kill(ctx); err != nil {
		t.Fatalf("kill: %v", err)
	}
	var ee *ExitError
	if err := srv.Wait(ctx); !errors.As(err, &ee) || ee.Code != 137 || ee.Signal != syscall.SIGKILL || err.Error() != "signal: killed" {
		t.Fatalf("Wait after SIGKILL = %v, want status 137 (SIGKILL)", err)
	}
	select {
	case <-srv.Done():
	default:
		t.Fatal("Done not closed after Wait")
	}
	if err := srv.Signal(os.Interrupt); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after exit = %v, want os.ErrProcessDone", err)
	}
	// The host, its address and its port survive; a new program serves.
	startEcho(t, b, cfg, "h1", ap.String())
	got, err := dialFrom(t, b, cfg, "h2", ap, "reborn")
	if err != nil || !strings.Contains(got, "echo reborn") {
		t.Fatalf("after restart: %q, %v", got, err)
	}
}

func TestExitStatusAndOutput(t *testing.T) {
	needDocker(t)
	b, cfg := created(t, lanTopology(testSubnets(t, 1)[0], 1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errf := filepath.Join(cfg.Dir, "bad.err")
	p, err := b.Start(ctx, "h1", netlab.Command{Argv: []string{b.Binary(), "netcheck"}, Stderr: errf})
	if err != nil {
		t.Fatal(err)
	}
	var ee *ExitError
	if err := p.Wait(ctx); !errors.As(err, &ee) || ee.Code != 2 {
		t.Fatalf("Wait = %v, want exit status 2 (bad usage)", err)
	}
	if out, _ := os.ReadFile(errf); !strings.Contains(string(out), "give exactly one of -listen or -dial") {
		t.Fatalf("stderr = %q", out)
	}
	if _, err := b.Start(ctx, "nosuch", netlab.Command{Argv: []string{b.Binary(), "idle"}}); err == nil {
		t.Fatal("Start on an unknown host succeeded")
	}
}

func TestCreateFailureLeavesNothing(t *testing.T) {
	needDocker(t)
	notExecutable := filepath.Join(t.TempDir(), "p2plab")
	if err := os.WriteFile(notExecutable, []byte("not a program\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*netlab.Config)
		want   string
	}{
		{"duplicate address", func(c *netlab.Config) {
			c.Topology.Hosts[1].NICs[0].Addr = c.Topology.Hosts[0].NICs[0].Addr
		}, "is taken by host"},
		// Image and network are made, the first host container fails to
		// start: everything made so far must go.
		{"binary that cannot run", func(c *netlab.Config) { c.Binary = notExecutable }, "start"},
		{"no binary", func(c *netlab.Config) { c.Binary = "" }, "Config.Binary is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := netlab.Config{RunID: testRunID(t), Dir: t.TempDir(), Topology: lanTopology(testSubnets(t, 1)[0], 2), Binary: testBinary(t)}
			tc.mutate(&cfg)
			t.Cleanup(func() { assertNoLeftovers(t, cfg.RunID) })
			b := New()
			t.Cleanup(func() { _ = b.Destroy(context.Background()) })
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			err := b.Create(ctx, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Create = %v, want an error containing %q", err, tc.want)
			}
			if left := leftovers(t, cfg.RunID); len(left) > 0 {
				t.Fatalf("failed Create left %v", left)
			}
			if err := b.Destroy(ctx); err != nil {
				t.Fatalf("Destroy after failed Create: %v", err)
			}
		})
	}
}

func TestCleanSparesLiveLabsAndCleanRunRemoves(t *testing.T) {
	needDocker(t)
	_, cfg := created(t, lanTopology(testSubnets(t, 1)[0], 1))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	before := leftovers(t, cfg.RunID)
	if len(before) != 3 { // host container, network, image
		t.Fatalf("lab objects = %v, want a container, a network and an image", before)
	}
	removed, err := Clean(ctx)
	if err != nil {
		t.Fatalf("Clean: %v", err)
	}
	for _, r := range removed {
		if strings.Contains(r, runName(cfg.RunID)) {
			t.Fatalf("Clean removed %s of a live lab", r)
		}
	}
	removed, err = CleanRun(ctx, cfg.RunID)
	if err != nil {
		t.Fatalf("CleanRun: %v", err)
	}
	if len(removed) != 3 {
		t.Errorf("CleanRun removed %v, want 3 objects", removed)
	}
	if left := leftovers(t, cfg.RunID); len(left) > 0 {
		t.Fatalf("after CleanRun: %v", left)
	}
}

func TestCleanRemovesCrashedLabs(t *testing.T) {
	needDocker(t)
	// A lab whose owner process is gone: label it with the pid of a
	// process that has exited.
	dead := exec.Command("/bin/true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	cfg := netlab.Config{RunID: testRunID(t), Dir: t.TempDir(), Topology: lanTopology(testSubnets(t, 1)[0], 2), Binary: testBinary(t)}
	t.Cleanup(func() { assertNoLeftovers(t, cfg.RunID) })
	b := New()
	b.pid = dead.Process.Pid
	t.Cleanup(func() { _ = b.Destroy(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := b.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Start(ctx, "h1", netlab.Command{Argv: []string{b.Binary(), "idle"}}); err != nil {
		t.Fatal(err)
	}
	removed, err := Clean(ctx)
	if err != nil {
		t.Fatalf("Clean: %v", err)
	}
	var ours []string
	for _, r := range removed {
		if strings.Contains(r, runName(cfg.RunID)) {
			ours = append(ours, r)
		}
	}
	// A program container, two host containers, the network, the image.
	if len(ours) != 5 {
		t.Errorf("Clean removed %v of the crashed lab, want 5 objects", ours)
	}
	if left := leftovers(t, cfg.RunID); len(left) > 0 {
		t.Fatalf("after Clean: %v", left)
	}
}

// Destroy closes the lab's connection to the engine: no HTTP connection
// (and none of its goroutines) of the provider outlives the lab, so a
// process that runs many labs does not collect them.
func TestDestroyClosesEngineClient(t *testing.T) {
	needDocker(t)
	before := goleak.IgnoreCurrent()
	b, _ := created(t, lanTopology(testSubnets(t, 1)[0], 1))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := b.Destroy(ctx); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if err := goleak.Find(before); err != nil {
		t.Fatalf("after Destroy: %v", err)
	}
}

// Two removals of one container at once both succeed: the one that finds
// the removal under way (the engine's conflict) waits for it.
func TestRemoveContainerTwiceAtOnce(t *testing.T) {
	needDocker(t)
	b, _ := created(t, lanTopology(testSubnets(t, 1)[0], 1))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := b.hosts["h1"].id
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- b.removeContainer(ctx, id) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("removeContainer: %v", err)
		}
	}
	if _, err := b.p.Client().ContainerInspect(ctx, id, client.ContainerInspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Fatalf("container after removal: inspect error %v, want not found", err)
	}
}
