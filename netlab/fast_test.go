package netlab

import (
	"context"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestFastVeth checks that hosts come up through the one-request veth path
// (the benchmark depends on it): the host side has the index asked for, is
// up, and the switch side is enslaved to the LAN's bridge.
func TestFastVeth(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces)")
	}
	ctx := context.Background()
	topo := Topology{
		LANs:  []LAN{{Name: "l", Subnet: netip.MustParsePrefix("198.18.80.0/24")}, {Name: "m", Subnet: netip.MustParsePrefix("198.18.81.0/24")}},
		Hosts: []HostSpec{{Name: "a", NICs: []NIC{{LAN: "l"}, {LAN: "m"}}}, {Name: "b", NICs: []NIC{{LAN: "m"}}}},
	}
	lab, err := New(ctx, NewNetns(), topo, Options{Dir: t.TempDir()})
	if lab != nil {
		t.Cleanup(func() { _ = lab.Close(ctx) })
	}
	if err != nil {
		t.Fatal(err)
	}
	ns, nh, links, err := lab.Host("a").nicLinks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	defer nh.Close()
	for j, l := range links {
		if l.Attrs().Index != hostIndexBase+j || l.Attrs().Flags&unix.IFF_UP == 0 {
			t.Errorf("NIC %d: %s index %d flags %v, want index %d and up", j, l.Attrs().Name, l.Attrs().Index, l.Attrs().Flags, hostIndexBase+j)
		}
	}
	b := lab.Backend().(*netnsBackend)
	if err := inNS(b.sw, func() error {
		v, err := os.ReadFile("/proc/sys/net/bridge/bridge-nf-call-iptables")
		if err == nil && string(v) != "0\n" {
			t.Errorf("switch namespace: bridge-nf-call-iptables = %q, want 0", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sh, err := netlink.NewHandleAt(b.sw, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	for i, name := range []string{"h0n0", "h0n1", "h1n0"} {
		l, err := sh.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if l.Attrs().Index != swIndexBase+i || l.Attrs().MasterIndex == 0 || l.Attrs().Flags&unix.IFF_UP == 0 {
			t.Errorf("%s: index %d master %d flags %v", name, l.Attrs().Index, l.Attrs().MasterIndex, l.Attrs().Flags)
		}
	}
}

// TestSlowVeth runs the fallback path (the library's four requests) and
// checks that bytes cross the LAN.
func TestSlowVeth(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces)")
	}
	vethFast = false
	t.Cleanup(func() { vethFast = true })
	ctx := context.Background()
	topo := Topology{
		LANs:  []LAN{{Name: "l", Subnet: netip.MustParsePrefix("198.18.82.0/24")}},
		Hosts: []HostSpec{{Name: "a", NICs: []NIC{{LAN: "l"}}}, {Name: "b", NICs: []NIC{{LAN: "l"}}}},
	}
	lab, err := New(ctx, NewNetns(), topo, Options{Dir: t.TempDir()})
	if lab != nil {
		t.Cleanup(func() { _ = lab.Close(ctx) })
	}
	if err != nil {
		t.Fatal(err)
	}
	a, b := lab.Host("a"), lab.Host("b")
	var rx *net.UDPConn
	if err := b.Do(ctx, func() error {
		rx, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(b.Addr(), 9000)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	if err := a.Do(ctx, func() error {
		tx, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(b.Addr(), 9000)))
		if err != nil {
			return err
		}
		defer tx.Close()
		_, err = tx.Write([]byte("over the slow veth"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_ = rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, from, err := rx.ReadFromUDP(buf)
	if err != nil || string(buf[:n]) != "over the slow veth" || from.AddrPort().Addr() != a.Addr() {
		t.Fatalf("got %q from %v, %v", buf[:n], from, err)
	}
}
