package netlabtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/netlab/natcheck"
)

// natCase is one NAT the suite classifies: every preset, and every axis
// value set alone.
type natCase struct {
	name string
	spec netlab.NATSpec
}

func natCases() []natCase {
	f := false
	var cs []natCase
	for _, t := range netlab.NATTypes {
		cs = append(cs, natCase{string(t), netlab.NATSpec{Type: t}})
	}
	for _, b := range netlab.NATBehaviors {
		cs = append(cs, natCase{"mapping=" + string(b), netlab.NATSpec{Mapping: b}})
		cs = append(cs, natCase{"filtering=" + string(b), netlab.NATSpec{Filtering: b}})
	}
	cs = append(cs,
		natCase{"ports=random", netlab.NATSpec{Ports: netlab.PortsRandom}},
		natCase{"ports=preserve", netlab.NATSpec{Ports: netlab.PortsPreserve}},
		natCase{"hairpin=false", netlab.NATSpec{Hairpin: &f}},
		natCase{"symmetric,random,no-hairpin", netlab.NATSpec{Type: netlab.Symmetric, Ports: netlab.PortsRandom, Hairpin: &f}},
	)
	return cs
}

// natTimeout is the UDP mapping lifetime of the suite's timeout NAT.
const natTimeout = 1500 * time.Millisecond

// testNAT: a WAN with two probe hosts, and one home LAN per NAT case, each
// behind its own NAT router with one client. Every case is classified
// from its client (natcheck, UDP and TCP) and must show exactly its
// configuration; then reachability, mapping lifetime and TCP simultaneous
// open through two NATs.
func testNAT(t *testing.T, newBackend func() netlab.Backend, opts netlab.Options) {
	cases := natCases()
	topo := netlab.Topology{
		LANs: []netlab.LAN{{Name: "wan", Subnet: netip.MustParsePrefix("198.19.100.0/24")}},
		Hosts: []netlab.HostSpec{
			{Name: "p1", NICs: []netlab.NIC{{LAN: "wan"}}},
			{Name: "p2", NICs: []netlab.NIC{{LAN: "wan"}}},
		},
	}
	home := func(i int, spec netlab.NATSpec) {
		lan := fmt.Sprintf("home%d", i)
		topo.LANs = append(topo.LANs, netlab.LAN{Name: lan, Subnet: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(101 + i), 0}), 28)})
		spec.Outside = "wan"
		topo.Hosts = append(topo.Hosts,
			netlab.HostSpec{Name: fmt.Sprintf("r%d", i), Router: true, NICs: []netlab.NIC{{LAN: "wan"}, {LAN: lan}}, NAT: &spec},
			netlab.HostSpec{Name: fmt.Sprintf("c%d", i), NICs: []netlab.NIC{{LAN: lan}}})
	}
	for i, c := range cases {
		home(i, c.spec)
	}
	// Two more: the timeout NAT, and a second port-restricted cone for
	// simultaneous open (with case 2, also port-restricted-cone).
	tmo, so := len(cases), len(cases)+1
	home(tmo, netlab.NATSpec{Type: netlab.FullCone, Timeout: natTimeout})
	home(so, netlab.NATSpec{Type: netlab.PortRestrictedCone})
	if cases[2].spec.Type != netlab.PortRestrictedCone {
		t.Fatalf("case 2 is %s, want port-restricted-cone", cases[2].name)
	}

	l := start(t, newBackend(), topo, opts)
	ctx := context.Background()
	client := func(i int) *netlab.Host { return l.Host(fmt.Sprintf("c%d", i)) }
	router := func(i int) *netlab.Host { return l.Host(fmt.Sprintf("r%d", i)) }
	probe := func(t *testing.T, i int) *natcheck.Probe {
		p, err := natcheck.NewProbe(ctx, l.Host("p1"), l.Host("p2"), [2]uint16{uint16(3500 + 2*i), uint16(3501 + 2*i)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}

	t.Run("Classify", func(t *testing.T) {
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				prof, err := c.spec.Profile()
				if err != nil {
					t.Fatal(err)
				}
				rep, err := natcheck.Run(ctx, client(i), probe(t, i), natcheck.Config{Wait: time.Second})
				if err != nil {
					t.Fatal(err)
				}
				pub := router(i).AddrOn("wan")
				for proto, b := range map[string]natcheck.Behavior{"UDP": rep.UDP, "TCP": rep.TCP} {
					if err := b.Matches(prof); err != nil {
						t.Errorf("%s through %s (%s): %v (found %+v)", proto, router(i).Name(), prof, err, b)
					}
					if b.Mapped.Addr() != pub {
						t.Errorf("%s: mapped address %s, want the NAT's outside address %s", proto, b.Mapped.Addr(), pub)
					}
				}
			})
		}
	})

	t.Run("NoRouteIn", func(t *testing.T) { testNATNoRouteIn(t, l.Host("p1"), router(0), client(0)) })

	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		p := probe(t, tmo)
		r, err := natcheck.MeasureUDPTimeout(ctx, client(tmo), p, natcheck.TimeoutConfig{Step: 50 * time.Millisecond, Max: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("configured %s, measured lifetime %s (%d datagrams, max gap %s)", natTimeout, r.Lifetime, r.Received, r.MaxGap)
		if r.Lifetime < natTimeout-200*time.Millisecond || r.Lifetime > natTimeout+300*time.Millisecond {
			t.Errorf("mapping lived %s after the last outbound datagram, want %s", r.Lifetime, natTimeout)
		}
	})
	t.Run("TimeoutRefreshed", func(t *testing.T) {
		t.Parallel()
		p := probe(t, tmo+1)
		hold := 2 * natTimeout
		r, err := natcheck.MeasureUDPTimeout(ctx, client(tmo), p, natcheck.TimeoutConfig{Step: 50 * time.Millisecond, Max: time.Minute, Refresh: natTimeout / 3, Hold: hold})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("refreshed for %s: alive %s, lifetime after last refresh %s, max gap %s", hold, r.Alive, r.Lifetime, r.MaxGap)
		if r.Alive < hold {
			t.Errorf("a mapping refreshed every %s for %s lived only %s", natTimeout/3, hold, r.Alive)
		}
		if r.MaxGap > natTimeout/2 {
			t.Errorf("inbound stopped for %s while the mapping was refreshed", r.MaxGap)
		}
		if r.Lifetime < natTimeout-200*time.Millisecond || r.Lifetime > natTimeout+300*time.Millisecond {
			t.Errorf("mapping lived %s after the last refresh, want %s", r.Lifetime, natTimeout)
		}
	})

	t.Run("TCPSimultaneousOpen", func(t *testing.T) {
		t.Parallel()
		testSimultaneousOpen(t, probe(t, tmo+2), client(2), client(so))
	})
}

// testNATNoRouteIn: a WAN host reaches no inside host, neither by its own
// routes nor with a route through the NAT router, while the inside host
// reaches out.
func testNATNoRouteIn(t *testing.T, wan, r, in *netlab.Host) {
	ctx := context.Background()
	ap := serveEcho(t, in, 7300)
	if _, err := dial(wan, ap, okWait); !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("%s dials inside host %s: %v, want network unreachable", wan.Name(), ap, err)
	}
	// Even with a route through the NAT router, nothing gets in.
	home := netip.PrefixFrom(in.Addr(), 28).Masked()
	route := &netlink.Route{
		Dst: &net.IPNet{IP: home.Addr().AsSlice(), Mask: net.CIDRMask(home.Bits(), 32)},
		Gw:  r.AddrOn("wan").AsSlice(),
	}
	if err := wan.Do(ctx, func() error { return netlink.RouteAdd(route) }); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = wan.Do(ctx, func() error { return netlink.RouteDel(route) }) }()
	if _, err := dial(wan, ap, time.Second); !isTimeout(err) {
		t.Errorf("%s dials inside host %s through %s: %v, want a timeout (the NAT drops it)", wan.Name(), ap, r.Name(), err)
	}
	// The way out works.
	out := serveEcho(t, wan, 7301)
	c, err := dial(in, out, okWait)
	if err != nil {
		t.Fatalf("%s -> %s through the NAT: %v", in.Name(), out, err)
	}
	defer c.Close()
	if err := echoOnce(c, "out", okWait); err != nil {
		t.Fatal(err)
	}
}

// testSimultaneousOpen: a and b, each behind an endpoint-independent NAT,
// learn their mapped endpoints from the probe, then dial each other from
// those ports at once (no listener): the connection must open and carry
// bytes both ways (RFC 5382 section 5.1 and REQ-2).
func testSimultaneousOpen(t *testing.T, p *natcheck.Probe, a, b *netlab.Host) {
	ctx := context.Background()
	mapped := func(h *netlab.Host) (uint16, netip.AddrPort) {
		var c net.Conn
		err := h.Do(ctx, func() error {
			d := net.Dialer{Timeout: okWait, Control: natcheck.Reuse}
			var err error
			c, err = d.Dial("tcp4", p.Endpoints()[0].String())
			return err
		})
		if err != nil {
			t.Fatalf("%s -> probe: %v", h.Name(), err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(okWait))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("%s: probe answer: %v", h.Name(), err)
		}
		return c.LocalAddr().(*net.TCPAddr).AddrPort().Port(), netip.MustParseAddrPort(strings.TrimSpace(line))
	}
	pa, xa := mapped(a)
	pb, xb := mapped(b)
	t.Logf("%s port %d is %s outside; %s port %d is %s", a.Name(), pa, xa, b.Name(), pb, xb)
	var wg sync.WaitGroup
	conns := make([]net.Conn, 2)
	errs := make([]error, 2)
	for i, side := range []struct {
		h     *netlab.Host
		local uint16
		peer  netip.AddrPort
	}{{a, pa, xb}, {b, pb, xa}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each side retries until the other's SYN has opened its NAT
			// (the first SYN may be dropped by the peer's filter).
			deadline := time.Now().Add(okWait)
			for time.Now().Before(deadline) {
				errs[i] = side.h.Do(ctx, func() error {
					d := net.Dialer{Timeout: time.Second, Control: natcheck.Reuse, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(side.h.Addr(), side.local))}
					c, err := d.Dial("tcp4", side.peer.String())
					conns[i] = c
					return err
				})
				if errs[i] == nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, c := range conns {
		if c != nil {
			defer c.Close()
		} else {
			t.Fatalf("side %d: simultaneous open failed: %v", i, errs[i])
		}
	}
	for i, c := range conns {
		msg := fmt.Sprintf("from side %d\n", i)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		o := conns[1-i]
		_ = o.SetReadDeadline(time.Now().Add(okWait))
		got, err := bufio.NewReader(o).ReadString('\n')
		if err != nil || got != msg {
			t.Fatalf("side %d read %q, %v; want %q", 1-i, got, err, msg)
		}
	}
}

// testLocalNAT: a backend whose hosts share this machine's namespace
// cannot route or translate, and says so before anything is made.
func testLocalNAT(t *testing.T, newBackend func() netlab.Backend, opts netlab.Options) {
	topo := netlab.Topology{
		LANs: []netlab.LAN{{Name: "wan", Subnet: netip.MustParsePrefix("198.19.100.0/24")}, {Name: "home", Subnet: netip.MustParsePrefix("198.19.101.0/24")}},
		Hosts: []netlab.HostSpec{
			{Name: "r", Router: true, NICs: []netlab.NIC{{LAN: "wan"}, {LAN: "home"}}, NAT: &netlab.NATSpec{Outside: "wan"}},
			{Name: "c", NICs: []netlab.NIC{{LAN: "home"}}},
		},
	}
	opts.RunID, opts.Dir = netlab.NewRunID(), t.TempDir()
	l, err := netlab.New(context.Background(), newBackend(), topo, opts)
	if l != nil {
		_ = l.Close(context.Background())
	}
	if !errors.Is(err, netlab.ErrNotSupported) {
		t.Errorf("NAT router on %s: %v, want netlab.ErrNotSupported", opts.RunID, err)
	}
}
