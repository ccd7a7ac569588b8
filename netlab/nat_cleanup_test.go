package netlab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// natGoroutines lists the goroutines of NAT routers (queue readers and
// sweepers) that are alive.
func natGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "go-nfqueue") || strings.Contains(g, "netlab.(*Host).startNAT") {
			out = append(out, strings.SplitN(g, "\n", 3)[:2]...)
		}
	}
	return out
}

// waitNoNATGoroutines fails t if NAT goroutines outlive d.
func waitNoNATGoroutines(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		g := natGoroutines()
		if len(g) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("NAT goroutines left: %v", g)
		}
		time.Sleep(10 * time.Millisecond) // poll interval of a deadline loop
	}
}

func twoNATTopology() Topology {
	return Topology{
		LANs: []LAN{
			{Name: "wan", Subnet: netip.MustParsePrefix("198.18.90.0/24")},
			{Name: "h1", Subnet: netip.MustParsePrefix("198.18.91.0/24")},
			{Name: "h2", Subnet: netip.MustParsePrefix("198.18.92.0/24")},
		},
		Hosts: []HostSpec{
			{Name: "r1", Router: true, NICs: []NIC{{LAN: "wan"}, {LAN: "h1"}}, NAT: &NATSpec{Outside: "wan"}},
			{Name: "r2", Router: true, NICs: []NIC{{LAN: "wan"}, {LAN: "h2"}}, NAT: &NATSpec{Outside: "wan", Type: Symmetric}},
			{Name: "c", NICs: []NIC{{LAN: "h1"}}},
		},
	}
}

// TestNATClose: the NAT routers' tables are in their namespaces while the
// lab runs, and Close stops every NAT goroutine.
func TestNATClose(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces)")
	}
	ctx := context.Background()
	waitNoNATGoroutines(t, 5*time.Second)
	l, err := New(ctx, NewNetns(), twoNATTopology(), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	for _, r := range []string{"r1", "r2"} {
		ns, err := l.b.NetNS(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := nftTables(ns, l.id)
		ns.Close()
		if err != nil || len(ts) != 3 {
			t.Errorf("%s: %d NAT tables (%v), want 3 (inbound queue, outbound queue, hairpin)", r, len(ts), err)
		}
		if _, ok := l.Host(r).NATStats(); !ok {
			t.Errorf("%s: no NAT running", r)
		}
	}
	if len(natGoroutines()) == 0 {
		t.Fatal("no NAT goroutines seen while the lab runs: the check sees nothing")
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitNoNATGoroutines(t, 5*time.Second)
	if _, ok := l.Host("r1").NATStats(); ok {
		t.Error("NAT still running after Close")
	}
}

// failNetNS is the netns backend with NetNS failing for one host once the
// lab is up, so that New fails while starting that host's NAT.
type failNetNS struct {
	Backend
	host string
}

var errInjected = errors.New("injected")

func (b *failNetNS) NetNS(ctx context.Context, host string) (netns.NsHandle, error) {
	if host == b.host {
		return netns.None(), fmt.Errorf("netns of %s: %w", host, errInjected)
	}
	return b.Backend.NetNS(ctx, host)
}

// TestNATFailsHalfway: when the second NAT cannot start, New fails, the
// first NAT is stopped and nothing is left.
func TestNATFailsHalfway(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces)")
	}
	ctx := context.Background()
	run := NewRunID()
	l, err := New(ctx, &failNetNS{Backend: NewNetns(), host: "r2"}, twoNATTopology(), Options{RunID: run, Dir: t.TempDir()})
	if l != nil {
		l.Close(ctx)
	}
	if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "host r2: nat") {
		t.Fatalf("New: %v, want the injected failure for r2's NAT", err)
	}
	waitNoNATGoroutines(t, 5*time.Second)
	if left := exists(run); len(left) != 0 {
		t.Errorf("failed New left %v", left)
	}
}
