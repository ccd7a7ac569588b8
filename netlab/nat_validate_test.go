package netlab_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// natTopo is a WAN, a home LAN and a NAT router r between them with spec
// (nil: none), plus a client c at home and a server s on the WAN.
func natTopo(router bool, spec *netlab.NATSpec) netlab.Topology {
	return netlab.Topology{
		LANs: []netlab.LAN{lan("wan", "198.18.60.0/24"), lan("home", "198.18.61.0/24"), lan("far", "198.18.62.0/24")},
		Hosts: []netlab.HostSpec{
			host("s", "wan"),
			{Name: "r", Router: router, NICs: []netlab.NIC{{LAN: "wan"}, {LAN: "home"}}, NAT: spec},
			host("c", "home"),
		},
	}
}

func TestResolveRefusesNAT(t *testing.T) {
	neg := -time.Second
	tests := []struct {
		name   string
		router bool
		spec   netlab.NATSpec
		want   string
	}{
		{"not a router", false, netlab.NATSpec{Outside: "wan"}, `host "r": NIC on LAN "wan": nat: host is not a router`},
		{"no outside", true, netlab.NATSpec{}, `host "r": nat.outside: missing`},
		{"outside not its LAN", true, netlab.NATSpec{Outside: "far"}, `host "r": NIC on LAN "far": nat.outside: host is not on LAN "far"`},
		{"unknown preset", true, netlab.NATSpec{Outside: "wan", Type: "cone"}, `host "r": NIC on LAN "wan": nat.type: unknown preset "cone"`},
		{"unknown mapping", true, netlab.NATSpec{Outside: "wan", Mapping: "sticky"}, `NIC on LAN "wan": nat.mapping: unknown behaviour "sticky"`},
		{"unknown filtering", true, netlab.NATSpec{Outside: "wan", Filtering: "open"}, `NIC on LAN "wan": nat.filtering: unknown behaviour "open"`},
		{"unknown ports", true, netlab.NATSpec{Outside: "wan", Ports: "sequential"}, `nat.ports: unknown port assignment "sequential"`},
		{"preset and conflicting filtering", true, netlab.NATSpec{Outside: "wan", Type: netlab.FullCone, Filtering: netlab.AddressDependent}, `nat.filtering: address-dependent conflicts with type full-cone`},
		{"preset and conflicting mapping", true, netlab.NATSpec{Outside: "wan", Type: netlab.RestrictedCone, Mapping: netlab.AddressAndPortDependent}, `nat.mapping: address-and-port-dependent conflicts with type restricted-cone`},
		{"negative timeout", true, netlab.NATSpec{Outside: "wan", Timeout: neg}, `host "r": NIC on LAN "wan": nat.timeout: -1s is negative`},
		{"absurd timeout", true, netlab.NATSpec{Outside: "wan", Timeout: 48 * time.Hour}, `nat.timeout: 48h0m0s is absurd`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			_, err := natTopo(tt.router, &spec).Resolve()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Resolve: %v, want an error containing %s", err, tt.want)
			}
			if !errors.Is(err, netlab.ErrBadNAT) {
				t.Errorf("%v is not ErrBadNAT", err)
			}
		})
	}
	// A preset with axes that agree, and the other axes, are fine.
	ok := netlab.NATSpec{Outside: "wan", Type: netlab.Symmetric, Mapping: netlab.AddressAndPortDependent, Ports: netlab.PortsRandom, Timeout: 30 * time.Second}
	if _, err := natTopo(true, &ok).Resolve(); err != nil {
		t.Errorf("consistent spec refused: %v", err)
	}
	// Two NATs for one inside LAN.
	two := natTopo(true, &netlab.NATSpec{Outside: "wan"})
	two.Hosts = append(two.Hosts, netlab.HostSpec{Name: "r2", Router: true, NICs: []netlab.NIC{{LAN: "wan"}, {LAN: "home"}}, NAT: &netlab.NATSpec{Outside: "wan"}})
	if _, err := two.Resolve(); err == nil || !strings.Contains(err.Error(), `LAN "home" is already inside the NAT of host "r"`) || !errors.Is(err, netlab.ErrBadNAT) {
		t.Errorf("two NATs on one inside LAN: %v", err)
	}
}

func TestNATSpecProfileDefaults(t *testing.T) {
	p, err := netlab.NATSpec{}.Profile()
	want := netlab.NATProfile{Mapping: netlab.EndpointIndependent, Filtering: netlab.AddressAndPortDependent, Ports: netlab.PortsPreserve, Hairpin: true, Timeout: netlab.DefaultNATTimeout}
	if err != nil || p != want {
		t.Errorf("defaults %+v, %v; want %+v", p, err, want)
	}
	for _, ty := range netlab.NATTypes {
		m, f, _ := ty.Preset()
		p, err := netlab.NATSpec{Type: ty}.Profile()
		if err != nil || p.Mapping != m || p.Filtering != f {
			t.Errorf("%s: %+v, %v", ty, p, err)
		}
	}
}

func TestNATRoutes(t *testing.T) {
	rt, err := natTopo(true, &netlab.NATSpec{Outside: "wan"}).Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if rs := rt.Routes("s"); len(rs) != 0 {
		t.Errorf("WAN host routes %v, want none (the NAT does not route its inside from outside)", rs)
	}
	rs := rt.Routes("c")
	gw := rt.Hosts[1].NICOn("home").Addr
	if len(rs) == 0 || rs[0].Dst != netip.MustParsePrefix("0.0.0.0/0") || rs[0].Via != gw {
		t.Errorf("inside host routes %v, want a default route via %s first", rs, gw)
	}
	// Without nat, the same router routes both ways.
	plain, _ := natTopo(true, nil).Resolve()
	if rs := plain.Routes("s"); len(rs) != 1 || rs[0].Dst != netip.MustParsePrefix("198.18.61.0/24") {
		t.Errorf("plain router: WAN host routes %v", rs)
	}
}

// TestNewRefusesBadNAT: nothing is made for a bad nat.
func TestNewRefusesBadNAT(t *testing.T) {
	id := netlab.NewRunID()
	_, err := netlab.New(context.Background(), netlab.NewNetns(), natTopo(false, &netlab.NATSpec{Outside: "wan"}), netlab.Options{RunID: id})
	if !errors.Is(err, netlab.ErrBadNAT) {
		t.Fatalf("New: %v, want ErrBadNAT", err)
	}
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if netlab.RunOf(e.Name()) == id {
			t.Errorf("namespace %s made for a refused topology", e.Name())
		}
	}
}
