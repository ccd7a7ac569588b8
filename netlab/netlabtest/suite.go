// Package netlabtest is the conformance suite every netlab Backend runs, in
// the style of golang.org/x/net/nettest: TestBackend brings up labs on the
// backend and proves each operation by its observable effect, with
// application bytes crossing between hosts (on this kind of machine a
// connect can succeed against nothing, so a connection opening proves
// nothing). It is for backend authors' tests, not for scenarios.
//
// Test binaries that import it can act as the hosts' echo program (see
// helperEnv), so a backend without a p2plab binary can still be tested.
package netlabtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/p2plab/p2plab/netlab"
	"github.com/vishvananda/netlink"
)

// okWait bounds every step that is expected to succeed: generous, since
// shared CI machines can be very busy, and a success returns at once.
const okWait = 10 * time.Second

// TestBackend runs the suite on labs made with backends from newBackend
// (one call per lab).
func TestBackend(t *testing.T, newBackend func() netlab.Backend) {
	TestBackendOpts(t, newBackend, netlab.Options{})
}

// TestBackendOpts is TestBackend with lab options (e.g. Binary, which a
// docker backend needs; RunID and Dir are set per lab by the suite).
func TestBackendOpts(t *testing.T, newBackend func() netlab.Backend, opts netlab.Options) {
	lan := netlab.LAN{Name: "lan", Subnet: netip.MustParsePrefix("198.18.40.0/24")}
	topo := netlab.Topology{
		LANs: []netlab.LAN{lan},
		Hosts: []netlab.HostSpec{
			{Name: "h1", NICs: []netlab.NIC{{LAN: "lan"}}},
			{Name: "h2", NICs: []netlab.NIC{{LAN: "lan"}}},
			{Name: "h3", NICs: []netlab.NIC{{LAN: "lan"}}},
		},
	}
	l := start(t, newBackend(), topo, opts)
	h1, h2, h3 := l.Host("h1"), l.Host("h2"), l.Host("h3")
	if l.Backend().Name() == netlab.BackendLocal {
		testLocal(t, l, topo, newBackend, opts)
		return
	}

	t.Run("Addresses", func(t *testing.T) {
		for i, h := range []*netlab.Host{h1, h2, h3} {
			want := netip.AddrFrom4([4]byte{198, 18, 40, byte(2 + i)})
			if h.Addr() != want || h.AddrOn("lan") != want {
				t.Errorf("%s: address %s, want %s", h.Name(), h.Addr(), want)
			}
		}
	})
	t.Run("Echo", func(t *testing.T) { testEcho(t, h1, h2) })
	t.Run("NoRouteOut", func(t *testing.T) { testNoRouteOut(t, h1) })
	t.Run("Cut", func(t *testing.T) { testCut(t, h1, h2) })
	t.Run("Block", func(t *testing.T) { testBlock(t, h1, h2, false) })
	t.Run("BlockReject", func(t *testing.T) { testBlock(t, h1, h2, true) })
	t.Run("PartitionOneWay", func(t *testing.T) { testPartition(t, h1, h2, true) })
	t.Run("PartitionBoth", func(t *testing.T) { testPartition(t, h1, h2, false) })
	t.Run("Loss", func(t *testing.T) { testLoss(t, h1, h3) })
	t.Run("Rate", func(t *testing.T) { testRate(t, h1, h3) })
	t.Run("Impair", func(t *testing.T) { testImpair(t, newBackend, opts, h1, h3) })
	t.Run("Capture", func(t *testing.T) { testCapture(t, h1, h2) })
	t.Run("Process", func(t *testing.T) { testProcess(t, l, h1, h2) })
	t.Run("Freeze", func(t *testing.T) { testFreeze(t, l, h1, h3) })
	t.Run("CloseUndoes", func(t *testing.T) { testCloseUndoes(t, newBackend, topo, opts) })
	t.Run("Router", func(t *testing.T) { testRouter(t, newBackend, opts) })
	t.Run("NAT", func(t *testing.T) { testNAT(t, newBackend, opts) })
}

// start brings a lab up and registers its Close (and a check that it left
// nothing behind) before looking at the error.
func start(t *testing.T, b netlab.Backend, topo netlab.Topology, opts netlab.Options) *netlab.Lab {
	t.Helper()
	opts.RunID = netlab.NewRunID()
	opts.Dir = t.TempDir()
	if b.Name() == netlab.BackendLocal {
		// Nothing of a local lab is in the kernel's tables (and reading
		// nftables needs root): a lab up and down is all to check.
		l, err := netlab.New(context.Background(), b, topo, opts)
		if err != nil {
			t.Fatalf("bring up: %v", err)
		}
		t.Cleanup(func() {
			if err := l.Close(context.Background()); err != nil {
				t.Errorf("close lab %s: %v", opts.RunID, err)
			}
		})
		return l
	}
	before := snapshot(t, opts.RunID)
	if len(before) != 0 {
		t.Fatalf("run %s: things exist before the lab: %v", opts.RunID, before)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := netlab.New(ctx, b, topo, opts)
	t.Cleanup(func() {
		if l != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := l.Close(ctx); err != nil {
				t.Errorf("close lab %s: %v", opts.RunID, err)
			}
		}
		if after := snapshot(t, opts.RunID); len(after) != 0 {
			t.Errorf("run %s: left behind after Close: %v", opts.RunID, after)
			if rm, err := netlab.CleanRun(context.Background(), opts.RunID); err != nil || len(rm) > 0 {
				t.Logf("CleanRun removed %v (%v)", rm, err)
			}
		}
	})
	if err != nil {
		t.Fatalf("bring up: %v", err)
	}
	if b.Name() == "netns" {
		if during := snapshot(t, opts.RunID); len(during) == 0 {
			t.Fatalf("run %s: the leak check sees nothing of a running netns lab", opts.RunID)
		}
	}
	return l
}

// snapshot lists what exists on the machine with this run's id: named
// namespaces (what `ip netns` lists), links and nft tables of the machine's
// own namespace.
func snapshot(t *testing.T, run string) []string {
	t.Helper()
	var out []string
	mine := func(name string) bool { return netlab.RunOf(name) == run }
	ents, err := os.ReadDir("/run/netns")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("list namespaces: %v", err)
	}
	for _, e := range ents {
		if mine(e.Name()) {
			out = append(out, "netns "+e.Name())
		}
	}
	links, err := netlab.RetryDump(netlink.LinkList)
	if err != nil {
		t.Fatalf("list links: %v", err)
	}
	for _, l := range links {
		if mine(l.Attrs().Name) || strings.Contains(l.Attrs().Alias, run) {
			out = append(out, "link "+l.Attrs().Name)
		}
	}
	tables, err := netlab.NftTables()
	if err != nil {
		t.Fatalf("list nft tables: %v", err)
	}
	for _, n := range tables {
		if mine(n) {
			out = append(out, "nft table "+n)
		}
	}
	return out
}

func testEcho(t *testing.T, a, b *netlab.Host) {
	ap := serveEcho(t, b, 7000)
	c, err := dial(a, ap, okWait)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", ap, a.Name(), err)
	}
	defer c.Close()
	if err := echoOnce(c, "hello from "+a.Name(), okWait); err != nil {
		t.Fatalf("echo %s -> %s: %v", a.Name(), b.Name(), err)
	}
	// (On a backend whose hosts share one namespace, an unbound socket
	// leaves from 127.0.0.1: see docs/netlab.md, "The local backend".)
	if got := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr(); got != a.Addr() && a.LoopbackAddr() != a.Addr() {
		t.Errorf("connection from %s, want %s", got, a.Addr())
	}
	get := udpCount(t, b, 7001, "udp")
	if err := sendUDP(a, netip.AddrPortFrom(b.Addr(), 7001), "udp", 20); err != nil {
		t.Fatal(err)
	}
	if n := get(); n != 20 {
		t.Errorf("UDP %s -> %s: %d of 20 datagrams arrived", a.Name(), b.Name(), n)
	}
}

func testNoRouteOut(t *testing.T, h *netlab.Host) {
	for _, dst := range []string{"192.0.2.1:80", "1.1.1.1:443", "198.20.0.1:80"} {
		_, err := dial(h, netip.MustParseAddrPort(dst), okWait)
		if !errors.Is(err, syscall.ENETUNREACH) {
			t.Errorf("%s: dial %s: %v, want network unreachable (no route out of the lab)", h.Name(), dst, err)
		}
	}
}

func testCut(t *testing.T, a, b *netlab.Host) {
	ctx := context.Background()
	ap := serveEcho(t, b, 7010)
	c, err := dial(a, ap, okWait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := echoOnce(c, "before", okWait); err != nil {
		t.Fatalf("echo before cut: %v", err)
	}
	undo, err := b.Cut(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = undo(ctx) })
	// Silent loss: the write succeeds, nothing comes back.
	err = echoOnce(c, "during", 700*time.Millisecond)
	if !isTimeout(err) {
		t.Fatalf("echo during cut: %v, want a timeout (silent loss)", err)
	}
	if _, err := dial(a, netip.AddrPortFrom(b.Addr(), 7010), 500*time.Millisecond); !isTimeout(err) {
		t.Errorf("new dial during cut: %v, want a timeout", err)
	}
	if err := undo(ctx); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if err := undo(ctx); err != nil {
		t.Errorf("second undo: %v", err)
	}
	// TCP retransmits "during"; then the connection carries bytes again.
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, len("during"))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "during" {
		t.Fatalf("after restore: read %q, %v; want the retransmitted echo", buf, err)
	}
	if err := echoOnce(c, "after", 5*time.Second); err != nil {
		t.Fatalf("echo after restore: %v", err)
	}
}

func testBlock(t *testing.T, a, b *netlab.Host, reject bool) {
	ctx := context.Background()
	port := uint16(7020)
	if reject {
		port = 7030
	}
	ap := serveEcho(t, b, port)
	other := serveEcho(t, b, port+5)
	back := serveEcho(t, a, port+6)
	est, err := dial(a, ap, okWait)
	if err != nil {
		t.Fatal(err)
	}
	defer est.Close()
	if err := echoOnce(est, "established", okWait); err != nil {
		t.Fatal(err)
	}
	undo, err := b.Block(ctx, netlab.Block{First: port, Last: port + 1, Reject: reject})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = undo(ctx) })
	_, err = dial(a, ap, 700*time.Millisecond)
	switch {
	case reject && !errors.Is(err, syscall.ECONNREFUSED):
		t.Errorf("new connection to blocked port (reject): %v, want connection refused (a TCP reset, not a timeout)", err)
	case !reject && !isTimeout(err):
		t.Errorf("new connection to blocked port (drop): %v, want a timeout", err)
	}
	if err := echoOnce(est, "still", okWait); err != nil {
		t.Errorf("established connection after block: %v", err)
	}
	c, err := dial(a, other, okWait)
	if err != nil {
		t.Fatalf("port %d outside the block: %v", other.Port(), err)
	}
	defer c.Close()
	if err := echoOnce(c, "other port", okWait); err != nil {
		t.Errorf("port outside the block: %v", err)
	}
	// The blocked host's own outbound connections keep working.
	out, err := dial(b, back, okWait)
	if err != nil {
		t.Fatalf("outbound from blocked host: %v", err)
	}
	defer out.Close()
	if err := echoOnce(out, "outbound", okWait); err != nil {
		t.Errorf("outbound from blocked host: %v", err)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	c2, err := dial(a, ap, okWait)
	if err != nil {
		t.Fatalf("dial after unblock: %v", err)
	}
	defer c2.Close()
	if err := echoOnce(c2, "unblocked", okWait); err != nil {
		t.Errorf("after unblock: %v", err)
	}
}

func testPartition(t *testing.T, a, b *netlab.Host, oneWay bool) {
	ctx := context.Background()
	port := uint16(7040)
	if !oneWay {
		port = 7050
	}
	// Partition b from a: with oneWay, only a -> b is dropped.
	undo, err := b.Partition(ctx, a, oneWay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = undo(ctx) })
	toB := udpCount(t, b, port, "ab")
	toA := udpCount(t, a, port, "ba")
	if err := sendUDP(a, netip.AddrPortFrom(b.Addr(), port), "ab", 20); err != nil {
		t.Fatal(err)
	}
	if err := sendUDP(b, netip.AddrPortFrom(a.Addr(), port), "ba", 20); err != nil {
		t.Fatal(err)
	}
	if n := toB(); n != 0 {
		t.Errorf("%s -> %s during partition: %d of 20 arrived, want 0", a.Name(), b.Name(), n)
	}
	wantA := 0
	if oneWay {
		wantA = 20
	}
	if n := toA(); n != wantA {
		t.Errorf("%s -> %s during partition (oneWay=%v): %d of 20 arrived, want %d", b.Name(), a.Name(), oneWay, n, wantA)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	toB2 := udpCount(t, b, port+1, "ab")
	toA2 := udpCount(t, a, port+1, "ba")
	if err := sendUDP(a, netip.AddrPortFrom(b.Addr(), port+1), "ab", 20); err != nil {
		t.Fatal(err)
	}
	if err := sendUDP(b, netip.AddrPortFrom(a.Addr(), port+1), "ba", 20); err != nil {
		t.Fatal(err)
	}
	if n, m := toB2(), toA2(); n != 20 || m != 20 {
		t.Errorf("after heal: %d and %d of 20 arrived, want all", n, m)
	}
}

func testLoss(t *testing.T, a, b *netlab.Host) {
	ctx := context.Background()
	const n, pct = 600, 30
	undo, err := b.Loss(ctx, pct)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = undo(ctx) })
	get := udpCount(t, b, 7060, "loss")
	if err := sendUDP(a, netip.AddrPortFrom(b.Addr(), 7060), "loss", n); err != nil {
		t.Fatal(err)
	}
	got := get()
	lost := 100 * float64(n-got) / n
	t.Logf("loss %d%%: %d of %d arrived (%.1f%% lost)", pct, got, n, lost)
	if lost < pct-8 || lost > pct+8 {
		t.Errorf("loss %d%%: %.1f%% of %d datagrams lost, want %d%% +- 8", pct, lost, n, pct)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	get2 := udpCount(t, b, 7061, "loss")
	if err := sendUDP(a, netip.AddrPortFrom(b.Addr(), 7061), "loss", 200); err != nil {
		t.Fatal(err)
	}
	if got := get2(); got != 200 {
		t.Errorf("after loss undo: %d of 200 arrived", got)
	}
}

// transfer sends size bytes from a to the sink on b and returns how long it
// took until the sink had them all.
func transfer(t *testing.T, a, b *netlab.Host, port uint16, size int) time.Duration {
	t.Helper()
	ap := netip.AddrPortFrom(b.Addr(), port)
	var ln net.Listener
	if err := b.Do(context.Background(), func() error {
		var err error
		ln, err = net.Listen("tcp4", ap.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		n, err := io.CopyN(io.Discard, c, int64(size))
		if err == nil && n != int64(size) {
			err = fmt.Errorf("got %d bytes", n)
		}
		got <- err
	}()
	c, err := dial(a, ap, okWait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(make([]byte, size)); err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := <-got; err != nil {
		t.Fatalf("receive: %v", err)
	}
	return time.Since(start)
}

func testRate(t *testing.T, a, b *netlab.Host) {
	checkRateLimit(t, "rate limit", a, b, 7070, func(bits uint64) (netlab.Undo, error) {
		return a.Rate(context.Background(), bits)
	})
}

func testCapture(t *testing.T, a, b *netlab.Host) {
	ctx := context.Background()
	path := filepath.Join(b.Dir(), "capture.pcap")
	undo, err := b.Capture(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = undo(ctx) })
	get := udpCount(t, b, 7080, "captured-marker")
	if err := sendUDP(a, netip.AddrPortFrom(b.Addr(), 7080), "captured-marker", 10); err != nil {
		t.Fatal(err)
	}
	if n := get(); n != 10 {
		t.Fatalf("%d of 10 datagrams arrived", n)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("pcap: %v", err)
	}
	seen := map[string]bool{}
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if i := strings.Index(string(data), "captured-marker "); i >= 0 {
			seen[string(data[i:])] = true
		}
	}
	for i := range 10 {
		if !seen[fmt.Sprintf("captured-marker %d", i)] {
			t.Errorf("pcap lacks datagram %d (saw %d distinct)", i, len(seen))
		}
	}
}

func testProcess(t *testing.T, l *netlab.Lab, a, b *netlab.Host) {
	ctx := context.Background()
	ap := netip.AddrPortFrom(b.Addr(), 7090)
	p, err := b.Start(ctx, echoCommand(l, b, ap))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill(ctx) })
	waitAnswer(t, a, ap, 10*time.Second)
	if r, err := ask(a, ap, "who", okWait); err != nil || r != "echo who from "+ap.String() {
		t.Errorf("reply %q, %v; want %q", r, err, "echo who from "+ap.String())
	}
	if err := p.Stop(ctx, 5*time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if _, err := ask(a, ap, "gone", okWait); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("after stop: %v, want connection refused", err)
	}
	out, _ := os.ReadFile(filepath.Join(b.Dir(), "echo.out"))
	if !strings.Contains(string(out), "listening") {
		t.Errorf("program output %q lacks its listening line", out)
	}

	// Kill: SIGKILL, reaped, Wait reports the signal.
	p2, err := b.Start(ctx, echoCommand(l, b, ap))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p2.Kill(ctx) })
	waitAnswer(t, a, ap, 10*time.Second)
	if err := p2.Kill(ctx); err != nil {
		t.Fatalf("kill: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := p2.Wait(wctx); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Wait after Kill: %v, want killed", err)
	}
}

func testFreeze(t *testing.T, l *netlab.Lab, a, b *netlab.Host) {
	ctx := context.Background()
	ap := netip.AddrPortFrom(b.Addr(), 7100)
	p, err := b.Start(ctx, echoCommand(l, b, ap))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill(ctx) })
	waitAnswer(t, a, ap, 10*time.Second)
	undo, err := b.Freeze(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = undo(ctx) })
	// The kernel still completes the handshake; the program does not answer.
	c, err := dial(a, ap, okWait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(700 * time.Millisecond))
	if _, err := io.WriteString(c, "frozen\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := c.Read(buf); !isTimeout(err) {
		t.Fatalf("frozen program answered %q (%v), want silence", buf[:n], err)
	}
	if err := undo(ctx); err != nil {
		t.Fatalf("thaw: %v", err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	n, err := io.ReadAtLeast(c, buf, len("echo frozen"))
	if err != nil || !strings.HasPrefix(string(buf[:n]), "echo frozen from ") {
		t.Fatalf("after thaw: %q, %v; want the answer", buf[:n], err)
	}
	select {
	case <-p.Done():
		t.Fatal("program exited across freeze/thaw")
	default:
	}
}

// testCloseUndoes leaves faults and a program in force and checks that
// Close removes them all (the leak check in start runs after Close).
func testCloseUndoes(t *testing.T, newBackend func() netlab.Backend, topo netlab.Topology, opts netlab.Options) {
	ctx := context.Background()
	var events []netlab.Event
	opts.OnEvent = func(e netlab.Event) { events = append(events, e) }
	l := start(t, newBackend(), topo, opts)
	h1, h2 := l.Host("h1"), l.Host("h2")
	p, err := h2.Start(ctx, echoCommand(l, h2, netip.AddrPortFrom(h2.Addr(), 7110)))
	if err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, h1, netip.AddrPortFrom(h2.Addr(), 7110), 10*time.Second)
	for _, f := range []func() (netlab.Undo, error){
		func() (netlab.Undo, error) { return h2.Freeze(ctx) },
		func() (netlab.Undo, error) { return h2.Block(ctx, netlab.Block{}) },
		func() (netlab.Undo, error) { return h1.Loss(ctx, 50) },
		func() (netlab.Undo, error) { return h1.Partition(ctx, h2, false) },
		func() (netlab.Undo, error) { return h1.Rate(ctx, 1_000_000) },
		func() (netlab.Undo, error) { return h1.Capture(ctx, filepath.Join(h1.Dir(), "c.pcap")) },
		func() (netlab.Undo, error) { return h1.Cut(ctx) },
	} {
		if _, err := f(); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := l.Close(cctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	select {
	case <-p.Done():
	default:
		t.Error("program still running after Close")
	}
	if err := syscall.Kill(p.Pid(), 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("pid %d still exists after Close (%v)", p.Pid(), err)
	}
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	for _, k := range []string{"up", "start", "freeze", "thaw", "block", "unblock", "cut", "restore", "exit", "down"} {
		if !slices.Contains(kinds, k) {
			t.Errorf("events %v lack %q", kinds, k)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// testRouter: a and b on two LANs joined by router r.
func testRouter(t *testing.T, newBackend func() netlab.Backend, opts netlab.Options) {
	ctx := context.Background()
	topo := netlab.Topology{
		LANs: []netlab.LAN{
			{Name: "x", Subnet: netip.MustParsePrefix("198.18.41.0/24")},
			{Name: "y", Subnet: netip.MustParsePrefix("198.18.42.0/24")},
		},
		Hosts: []netlab.HostSpec{
			{Name: "a", NICs: []netlab.NIC{{LAN: "x"}}},
			{Name: "b", NICs: []netlab.NIC{{LAN: "y"}}},
			{Name: "r", Router: true, NICs: []netlab.NIC{{LAN: "x"}, {LAN: "y"}}},
		},
	}
	l := start(t, newBackend(), topo, opts)
	a, b, r := l.Host("a"), l.Host("b"), l.Host("r")
	ap := serveEcho(t, b, 7200)
	check := func(when string) {
		t.Helper()
		c, err := dial(a, ap, okWait)
		if err != nil {
			t.Fatalf("%s: a -> b through r: %v", when, err)
		}
		defer c.Close()
		if err := echoOnce(c, when, okWait); err != nil {
			t.Fatalf("%s: a -> b through r: %v", when, err)
		}
		// (On a backend whose hosts share one namespace, an unbound socket
		// leaves from 127.0.0.1: see docs/netlab.md, "The local backend".)
		if got := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr(); got != a.Addr() && a.LoopbackAddr() != a.Addr() {
			t.Errorf("%s: from %s, want %s", when, got, a.Addr())
		}
	}
	check("routed")
	undo, err := r.Cut(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dial(a, ap, 500*time.Millisecond); !isTimeout(err) {
		t.Errorf("with the router cut: %v, want a timeout", err)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	check("router restored")
	// Cutting a host drops its routes in the kernel; restore puts them back.
	undo, err = a.Cut(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	check("host restored")
}

// testLocal is the suite for a backend whose hosts share this machine's
// namespace (local): distinct loopback addresses, bytes between hosts,
// programs, freeze and thaw, and ErrNotSupported for every other fault.
func testLocal(t *testing.T, l *netlab.Lab, topo netlab.Topology, newBackend func() netlab.Backend, opts netlab.Options) {
	h1, h2, h3 := l.Host("h1"), l.Host("h2"), l.Host("h3")
	t.Run("Addresses", func(t *testing.T) {
		seen := map[netip.Addr]string{}
		for _, h := range []*netlab.Host{h1, h2, h3} {
			a := h.Addr()
			if !a.Is4() || a.As4()[0] != 127 || a.As4()[1] < 64 || a.As4()[1] >= 128 || h.LoopbackAddr() != a {
				t.Errorf("%s: address %s (loopback %s), want one of 127.64.0.0/10", h.Name(), a, h.LoopbackAddr())
			}
			if o, dup := seen[a]; dup {
				t.Errorf("%s and %s share %s", o, h.Name(), a)
			}
			seen[a] = h.Name()
		}
		// A second lab at the same time gets other addresses.
		l2 := start(t, newBackend(), topo, opts)
		if a, b := l2.Host("h1").Addr(), h1.Addr(); netip.PrefixFrom(a, 24).Masked() == netip.PrefixFrom(b, 24).Masked() {
			t.Errorf("two live labs share the block of %s and %s", a, b)
		}
	})
	t.Run("Echo", func(t *testing.T) { testEcho(t, h1, h2) })
	t.Run("NotSupported", func(t *testing.T) {
		ctx := context.Background()
		faults := map[string]func() (netlab.Undo, error){
			"cut":       func() (netlab.Undo, error) { return h1.Cut(ctx) },
			"block":     func() (netlab.Undo, error) { return h1.Block(ctx, netlab.Block{}) },
			"partition": func() (netlab.Undo, error) { return h1.Partition(ctx, h2, false) },
			"loss":      func() (netlab.Undo, error) { return h1.Loss(ctx, 50) },
			"rate":      func() (netlab.Undo, error) { return h1.Rate(ctx, 1e6) },
			"capture":   func() (netlab.Undo, error) { return h1.Capture(ctx, filepath.Join(t.TempDir(), "x.pcap")) },
			"impair":    func() (netlab.Undo, error) { return h1.Impair(ctx, "", netlab.Impairment{Delay: time.Millisecond}) },
			"delay":     func() (netlab.Undo, error) { return h1.Delay(ctx, time.Millisecond, 0, netlab.Both) },
			"duplicate": func() (netlab.Undo, error) { return h1.Duplicate(ctx, 10, netlab.In) },
			"loss dir":  func() (netlab.Undo, error) { return h1.LossDir(ctx, 10, netlab.Out) },
			"rate in":   func() (netlab.Undo, error) { return h1.RateDir(ctx, 1e6, netlab.In) },
			"rate both": func() (netlab.Undo, error) { return h1.RateDir(ctx, 1e6, netlab.Both) },
		}
		for name, f := range faults {
			if undo, err := f(); !errors.Is(err, netlab.ErrNotSupported) || undo != nil {
				t.Errorf("%s: %v, want netlab.ErrNotSupported", name, err)
			}
		}
		if f, err := h1.Flap(ctx, netlab.Flap{Down: time.Millisecond, Up: time.Millisecond, Count: 1}); !errors.Is(err, netlab.ErrNotSupported) || f != nil {
			t.Errorf("flap: %v, want netlab.ErrNotSupported", err)
		}
		if _, err := h1.Start(ctx, netlab.Command{Image: "x:y"}); !errors.Is(err, netlab.ErrNotSupported) {
			t.Errorf("image: %v, want netlab.ErrNotSupported", err)
		}
	})
	t.Run("Process", func(t *testing.T) { testProcess(t, l, h1, h2) })
	t.Run("Freeze", func(t *testing.T) { testFreeze(t, l, h1, h3) })
	t.Run("NAT", func(t *testing.T) { testLocalNAT(t, newBackend, opts) })
}
