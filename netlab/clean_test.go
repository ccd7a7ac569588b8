package netlab

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// leftovers makes what a crashed run leaves: a namespace with a veth and an
// nft table in it, a cgroup, and a stale run lock.
func leftovers(t *testing.T, run string) {
	t.Helper()
	ns, err := newNamedNS(run + "-ghost")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "eth1"}); err != nil {
		t.Fatal(err)
	}
	if err := nftAdd(ns, run+"-block1", []nftRule{blockRule(1, 2, false)}); err != nil {
		t.Fatal(err)
	}
	// In the machine's own namespace: a veth pair and an nft table (the
	// netns backend never makes these; older or crashed tools might).
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: run + "-v0"}, PeerName: run + "-v1"}); err != nil {
		t.Fatal(err)
	}
	root, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := nftAdd(root, run+"-stale", []nftRule{blockRule(1, 1, false)}); err != nil {
		t.Fatal(err)
	}
	if r := findCgroupRoot(); r.ok() {
		if _, err := r.create(run + "-ghost"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(lockDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lockDir(), run+".lock"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The run directory New makes when not given one.
	if _, err := os.MkdirTemp("", run+"-"); err != nil {
		t.Fatal(err)
	}
}

// exists reports whether anything of run is on the machine.
func exists(run string) []string {
	var out []string
	ents, _ := os.ReadDir(netnsDir)
	for _, e := range ents {
		if RunOf(e.Name()) == run {
			out = append(out, e.Name())
		}
	}
	for _, d := range cgroupDirs() {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if RunOf(e.Name()) == run {
				out = append(out, filepath.Join(d, e.Name()))
			}
		}
	}
	if _, err := os.Stat(filepath.Join(lockDir(), run+".lock")); err == nil {
		out = append(out, "lock")
	}
	if ds, _ := filepath.Glob(filepath.Join(os.TempDir(), run+"-*")); len(ds) > 0 {
		out = append(out, ds...)
	}
	if links, err := RetryDump(netlink.LinkList); err == nil {
		for _, l := range links {
			if RunOf(l.Attrs().Name) == run {
				out = append(out, "link "+l.Attrs().Name)
			}
		}
	}
	if names, err := NftTables(); err == nil {
		for _, n := range names {
			if RunOf(n) == run {
				out = append(out, "nft "+n)
			}
		}
	}
	return out
}

func TestCleanLeftovers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces)")
	}
	ctx := context.Background()
	dead, live := NewRunID(), NewRunID()
	t.Cleanup(func() {
		_, _ = CleanRun(ctx, dead)
		_, _ = CleanRun(ctx, live)
	})
	leftovers(t, dead)
	if len(exists(dead)) < 5 {
		t.Fatalf("leftovers not made: %v", exists(dead))
	}
	topo := Topology{
		LANs:  []LAN{{Name: "l", Subnet: netip.MustParsePrefix("198.18.77.0/24")}},
		Hosts: []HostSpec{{Name: "a", NICs: []NIC{{LAN: "l"}}}},
	}
	// Not a run directory, though its name starts like one: never removed.
	decoy, err := os.MkdirTemp("", "p2plab-artifacts-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(decoy) })
	lab, err := New(ctx, NewNetns(), topo, Options{RunID: live})
	if lab != nil {
		t.Cleanup(func() { _ = lab.Close(ctx) })
	}
	if err != nil {
		t.Fatal(err)
	}
	if !RunAlive(live) || RunAlive(dead) {
		t.Fatalf("RunAlive: live %v, dead %v", RunAlive(live), RunAlive(dead))
	}
	if _, err := New(ctx, NewNetns(), topo, Options{RunID: live}); err == nil {
		t.Fatal("a second lab got the same run id")
	}

	// What Clean does, restricted to this test's two runs.
	removed, err := clean(ctx, func(run string) bool { return (run == dead || run == live) && !RunAlive(run) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("removed %v", removed)
	for _, want := range []string{"netns " + dead + "-ghost", "lock " + dead, "nft table " + dead + "-stale"} {
		if !slices.Contains(removed, want) {
			t.Errorf("removed %v, want %q among them", removed, want)
		}
	}
	if !slices.Contains(removed, "link "+dead+"-v0") && !slices.Contains(removed, "link "+dead+"-v1") {
		t.Errorf("removed %v, want the dead run's veth", removed)
	}
	if left := exists(dead); len(left) != 0 {
		t.Errorf("dead run left: %v", left)
	}
	if !slices.Contains(exists(live), live+"-a") {
		t.Errorf("the live lab lost its namespace: %v", exists(live))
	}
	if _, err := os.Stat(lab.Dir()); err != nil {
		t.Errorf("the live lab lost its run directory: %v", err)
	}
	if _, err := os.Stat(decoy); err != nil {
		t.Errorf("clean removed %s, which is no run directory: %v", decoy, err)
	}
	// The live lab still works.
	if err := lab.Host("a").Do(ctx, func() error {
		_, err := netns.Get()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := lab.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if left := exists(live); len(left) != 0 {
		t.Errorf("after Close: %v", left)
	}
	// CleanRun on a run that is gone removes nothing and is no error.
	if rm, err := CleanRun(ctx, live); err != nil || len(rm) != 0 {
		t.Errorf("CleanRun after Close: %v, %v", rm, err)
	}
}

func TestNewFailsHalfway(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces)")
	}
	ctx := context.Background()
	topo := Topology{LANs: []LAN{{Name: "l", Subnet: netip.MustParsePrefix("198.18.78.0/24")}}}
	for _, n := range []string{"h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8", "h9"} {
		topo.Hosts = append(topo.Hosts, HostSpec{Name: n, NICs: []NIC{{LAN: "l"}}})
	}
	tests := []struct {
		name  string
		setup func(run string) context.Context
	}{
		{"host namespace in the way", func(run string) context.Context {
			// A plain file where host h7's namespace would go.
			if err := os.WriteFile(filepath.Join(netnsDir, run+"-h7"), nil, 0o444); err != nil {
				t.Fatal(err)
			}
			return ctx
		}},
		{"cancelled", func(string) context.Context {
			c, cancel := context.WithCancel(ctx)
			cancel()
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := NewRunID()
			t.Cleanup(func() { _, _ = CleanRun(ctx, run) })
			c := tt.setup(run)
			lab, err := New(c, NewNetns(), topo, Options{RunID: run, Dir: t.TempDir()})
			if lab != nil {
				_ = lab.Close(ctx)
			}
			if err == nil {
				t.Fatal("New succeeded")
			}
			t.Logf("New: %v", err)
			if left := exists(run); len(left) != 0 {
				t.Errorf("failed New left %v", left)
			}
			if RunAlive(run) {
				t.Error("failed New kept its run lock")
			}
		})
	}
}
