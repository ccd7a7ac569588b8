package netlab_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/p2plab/p2plab/netlab"
	"github.com/vishvananda/netns"
)

func lan(name, subnet string) netlab.LAN {
	return netlab.LAN{Name: name, Subnet: netip.MustParsePrefix(subnet)}
}

func host(name string, lans ...string) netlab.HostSpec {
	h := netlab.HostSpec{Name: name}
	for _, l := range lans {
		h.NICs = append(h.NICs, netlab.NIC{LAN: l})
	}
	return h
}

func hostAt(name, lan, addr string) netlab.HostSpec {
	return netlab.HostSpec{Name: name, NICs: []netlab.NIC{{LAN: lan, Addr: netip.MustParseAddr(addr)}}}
}

func TestResolveRefuses(t *testing.T) {
	l1 := lan("l1", "198.18.1.0/24")
	many := netlab.Topology{LANs: []netlab.LAN{lan("tiny", "198.18.9.0/29")}}
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		many.Hosts = append(many.Hosts, host(n, "tiny"))
	}
	tests := []struct {
		name string
		topo netlab.Topology
		want string // in the error
	}{
		{"overlapping subnets", netlab.Topology{LANs: []netlab.LAN{l1, lan("l2", "198.18.0.0/16")}}, `LAN "l2": subnet 198.18.0.0/16 overlaps LAN "l1"`},
		{"subnet outside lab range", netlab.Topology{LANs: []netlab.LAN{lan("out", "10.0.0.0/24")}}, `LAN "out": subnet 10.0.0.0/24 is outside 198.18.0.0/15`},
		{"subnet wider than lab range", netlab.Topology{LANs: []netlab.LAN{lan("wide", "198.16.0.0/14")}}, `LAN "wide": subnet 198.16.0.0/14 is outside`},
		{"subnet with host bits", netlab.Topology{LANs: []netlab.LAN{lan("odd", "198.18.1.7/24")}}, `LAN "odd": subnet 198.18.1.7/24 has host bits set`},
		{"subnet too small", netlab.Topology{LANs: []netlab.LAN{lan("p2p", "198.18.1.0/31")}}, `LAN "p2p": subnet 198.18.1.0/31 is too small`},
		{"IPv6 subnet", netlab.Topology{LANs: []netlab.LAN{{Name: "v6", Subnet: netip.MustParsePrefix("2001:db8::/64")}}}, `LAN "v6": subnet 2001:db8::/64 is not IPv4`},
		{"LAN without subnet", netlab.Topology{LANs: []netlab.LAN{{Name: "none"}}}, `LAN "none": no subnet`},
		{"duplicate LAN", netlab.Topology{LANs: []netlab.LAN{l1, lan("l1", "198.18.2.0/24")}}, `LAN "l1": duplicate name`},
		{"bad LAN name", netlab.Topology{LANs: []netlab.LAN{lan("no spaces", "198.18.2.0/24")}}, `LAN "no spaces": bad name`},
		{"host on unknown LAN", netlab.Topology{LANs: []netlab.LAN{l1}, Hosts: []netlab.HostSpec{host("alice", "nowhere")}}, `host "alice": unknown LAN "nowhere"`},
		{"duplicate host", netlab.Topology{LANs: []netlab.LAN{l1}, Hosts: []netlab.HostSpec{host("bob", "l1"), host("bob", "l1")}}, `host "bob": duplicate name`},
		{"bad host name", netlab.Topology{LANs: []netlab.LAN{l1}, Hosts: []netlab.HostSpec{host("-x", "l1")}}, `host "-x": bad name`},
		{"long host name", netlab.Topology{LANs: []netlab.LAN{l1}, Hosts: []netlab.HostSpec{host(strings.Repeat("h", 33), "l1")}}, `bad name`},
		{"host without NIC", netlab.Topology{LANs: []netlab.LAN{l1}, Hosts: []netlab.HostSpec{{Name: "lonely"}}}, `host "lonely": no NIC`},
		{"host twice on a LAN", netlab.Topology{LANs: []netlab.LAN{l1}, Hosts: []netlab.HostSpec{host("twice", "l1", "l1")}}, `host "twice": two NICs on LAN "l1"`},
		{"router on one LAN", netlab.Topology{LANs: []netlab.LAN{l1}, Hosts: []netlab.HostSpec{{Name: "r", Router: true, NICs: []netlab.NIC{{LAN: "l1"}}}}}, `host "r": a router needs NICs on two LANs`},
		{"address outside subnet", netlab.Topology{LANs: []netlab.LAN{l1}, Hosts: []netlab.HostSpec{hostAt("carol", "l1", "198.18.2.5")}}, `host "carol": address 198.18.2.5 is outside LAN "l1"`},
		{"subnet address", netlab.Topology{LANs: []netlab.LAN{l1}, Hosts: []netlab.HostSpec{hostAt("dave", "l1", "198.18.1.0")}}, `host "dave": address 198.18.1.0 is reserved`},
		{"LAN address", netlab.Topology{LANs: []netlab.LAN{l1}, Hosts: []netlab.HostSpec{hostAt("dave", "l1", "198.18.1.1")}}, `host "dave": address 198.18.1.1 is reserved`},
		{"broadcast address", netlab.Topology{LANs: []netlab.LAN{l1}, Hosts: []netlab.HostSpec{hostAt("dave", "l1", "198.18.1.255")}}, `host "dave": address 198.18.1.255 is reserved`},
		{"address taken", netlab.Topology{LANs: []netlab.LAN{l1}, Hosts: []netlab.HostSpec{hostAt("erin", "l1", "198.18.1.9"), hostAt("frank", "l1", "198.18.1.9")}}, `host "frank": address 198.18.1.9 is taken by host "erin"`},
		{"too many hosts", many, `host "f": LAN "tiny" (198.18.9.0/29) has no free address left`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.topo.Resolve()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Resolve: %v, want an error containing %q", err, tt.want)
			}
			// New refuses it too, before touching the backend.
			_, err = netlab.New(context.Background(), refuseBackend{t}, tt.topo, netlab.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestResolveAddresses(t *testing.T) {
	topo := netlab.Topology{
		LANs: []netlab.LAN{lan("a", "198.18.1.0/24"), lan("b", "198.19.255.248/29")},
		Hosts: []netlab.HostSpec{
			host("h1", "a"),
			hostAt("h2", "a", "198.18.1.3"),
			host("h3", "a", "b"),
			{Name: "r", Router: true, NICs: []netlab.NIC{{LAN: "b"}, {LAN: "a", Addr: netip.MustParseAddr("198.18.1.200")}}},
		},
	}
	got, err := topo.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"h1": {"198.18.1.2"},
		"h2": {"198.18.1.3"},
		"h3": {"198.18.1.4", "198.19.255.250"},
		"r":  {"198.19.255.251", "198.18.1.200"},
	}
	for _, h := range got.Hosts {
		for i, n := range h.NICs {
			if n.Addr.String() != want[h.Name][i] {
				t.Errorf("%s NIC %d: %s, want %s", h.Name, i, n.Addr, want[h.Name][i])
			}
		}
	}
	if topo.Hosts[0].NICs[0].Addr.IsValid() {
		t.Error("Resolve changed its input")
	}
}

func TestRoutes(t *testing.T) {
	topo, err := netlab.Topology{
		LANs: []netlab.LAN{lan("x", "198.18.1.0/24"), lan("y", "198.18.2.0/24"), lan("z", "198.18.3.0/24")},
		Hosts: []netlab.HostSpec{
			host("a", "x"),
			host("b", "y"),
			host("c", "z"),
			{Name: "r", Router: true, NICs: []netlab.NIC{{LAN: "x"}, {LAN: "y"}}},
		},
	}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want []netlab.Route
	}{
		{"a", []netlab.Route{{Dst: netip.MustParsePrefix("198.18.2.0/24"), Via: netip.MustParseAddr("198.18.1.3")}}},
		{"b", []netlab.Route{{Dst: netip.MustParsePrefix("198.18.1.0/24"), Via: netip.MustParseAddr("198.18.2.3")}}},
		{"c", nil}, // no router reaches z
		{"r", nil},
	}
	for _, tt := range tests {
		got := topo.Routes(tt.host)
		if len(got) != len(tt.want) {
			t.Errorf("%s: routes %v, want %v", tt.host, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: routes %v, want %v", tt.host, got, tt.want)
			}
		}
	}
}

func TestRunID(t *testing.T) {
	for _, tt := range []struct {
		id string
		ok bool
	}{
		{netlab.NewRunID(), true},
		{"p2pl1", true},
		{"p2pl", false},
		{"p2plABC", false},
		{"p2pl-x", false},
		{"xyz123", false},
		{"p2pl0123456789abc", false},
	} {
		if got := netlab.ValidRunID(tt.id); got != tt.ok {
			t.Errorf("ValidRunID(%q) = %v, want %v", tt.id, got, tt.ok)
		}
	}
	for _, tt := range []struct{ name, run string }{
		{"p2plab12cd-alice", "p2plab12cd"},
		{"p2plab12cd_sw", "p2plab12cd"},
		{"p2plab12cd", "p2plab12cd"},
		{"p2plab12cd-block3", "p2plab12cd"},
		{"docker0", ""},
		{"p2pl", ""},
	} {
		if got := netlab.RunOf(tt.name); got != tt.run {
			t.Errorf("RunOf(%q) = %q, want %q", tt.name, got, tt.run)
		}
	}
}

// refuseBackend fails the test if New reaches it.
type refuseBackend struct{ t *testing.T }

func (b refuseBackend) Name() string { return "refuse" }
func (b refuseBackend) Create(context.Context, netlab.Config) error {
	b.t.Error("Create called for an invalid topology")
	return nil
}
func (b refuseBackend) Start(context.Context, string, netlab.Command) (netlab.Process, error) {
	return nil, nil
}
func (b refuseBackend) NetNS(context.Context, string) (netns.NsHandle, error) {
	return netns.None(), nil
}
func (b refuseBackend) Freeze(context.Context, string) error { return nil }
func (b refuseBackend) Thaw(context.Context, string) error   { return nil }
func (b refuseBackend) Mount(string) (string, string)        { return "", "" }
func (b refuseBackend) Binary() string                       { return "" }
func (b refuseBackend) Destroy(context.Context) error {
	b.t.Error("Destroy called for an invalid topology")
	return nil
}

func TestNeighNeed(t *testing.T) {
	topo := netlab.Topology{
		LANs:  []netlab.LAN{lan("a", "198.18.1.0/24"), lan("b", "198.18.2.0/24")},
		Hosts: []netlab.HostSpec{host("x", "a"), host("y", "a"), host("z", "a", "b"), host("w", "b")},
	}
	if got, want := netlab.NeighNeed(topo), 3*2+2*1; got != want {
		t.Errorf("NeighNeed = %d, want %d", got, want)
	}
}
