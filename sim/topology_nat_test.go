package sim

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

const natYAML = `lans:
  - {name: wan, subnet: 198.18.70.0/24}
  - {name: home1, subnet: 198.18.71.0/24}
  - {name: home2, subnet: 198.18.72.0/24}
hosts:
  - {name: server, lans: [wan]}
  - {name: nat1, lans: [wan, home1], router: true, nat: {outside: wan, type: port-restricted-cone}}
  - {name: nat2, lans: [wan, home2], router: true, nat: {outside: wan, mapping: address-and-port-dependent, filtering: address-and-port-dependent, ports: random, hairpin: false, timeout: 30s}}
  - {name: alice, lans: [home1]}
  - {name: bob, lans: [home2]}
`

func TestParseTopologyNAT(t *testing.T) {
	top, err := ParseTopology("t.yaml", []byte(natYAML))
	if err != nil {
		t.Fatal(err)
	}
	n1, n2 := top.Hosts[1].NAT, top.Hosts[2].NAT
	if n1 == nil || n1.Outside != "wan" || n1.Type != netlab.PortRestrictedCone {
		t.Errorf("nat1: %+v", n1)
	}
	p, err := n2.Profile()
	want := netlab.NATProfile{Mapping: netlab.AddressAndPortDependent, Filtering: netlab.AddressAndPortDependent, Ports: netlab.PortsRandom, Hairpin: false, Timeout: 30 * time.Second}
	if err != nil || p != want {
		t.Errorf("nat2: %+v, %v; want %+v", p, err, want)
	}
	if _, err := top.Resolve(); err != nil {
		t.Errorf("Resolve: %v", err)
	}
}

func TestParseTopologyNATErrors(t *testing.T) {
	tests := []struct{ name, nat, want string }{
		{"not a router", `{name: x, lans: [wan, home1], nat: {outside: wan}}`, `t.yaml:6:40: hosts[1].nat: host x: NIC on LAN wan: nat on a host that is not a router`},
		{"not its LAN", `{name: x, lans: [wan, home1], router: true, nat: {outside: home2}}`, `t.yaml:6:64: hosts[1].nat.outside: host x: nat.outside "home2" is not one of the host's LANs`},
		{"unknown preset", `{name: x, lans: [wan, home1], router: true, nat: {outside: wan, type: cone}}`, `t.yaml:6:75: hosts[1].nat.type: host x: NIC on LAN wan: unknown preset "cone"`},
		{"unknown axis value", `{name: x, lans: [wan, home1], router: true, nat: {outside: wan, filtering: open}}`, `hosts[1].nat.filtering: host x: NIC on LAN wan: unknown behaviour "open"`},
		{"conflict", `{name: x, lans: [wan, home1], router: true, nat: {outside: wan, type: full-cone, mapping: address-dependent}}`, `hosts[1].nat.mapping: host x: NIC on LAN wan: address-dependent conflicts with type full-cone`},
		{"negative timeout", `{name: x, lans: [wan, home1], router: true, nat: {outside: wan, timeout: -5s}}`, `hosts[1].nat.timeout: host x: NIC on LAN wan: -5s is negative`},
		{"bad timeout", `{name: x, lans: [wan, home1], router: true, nat: {outside: wan, timeout: soon}}`, `hosts[1].nat.timeout: host x: "soon" is not a duration`},
		{"bad ports", `{name: x, lans: [wan, home1], router: true, nat: {outside: wan, ports: odd}}`, `hosts[1].nat.ports: host x: NIC on LAN wan: unknown port assignment "odd"`},
		{"unknown field", `{name: x, lans: [wan, home1], router: true, nat: {outside: wan, cone: true}}`, `hosts[1].nat.cone: unknown field`},
		{"no outside", `{name: x, lans: [wan, home1], router: true, nat: {type: symmetric}}`, `hosts[1].nat.outside: missing`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "lans:\n  - {name: wan, subnet: 198.18.70.0/24}\n  - {name: home1, subnet: 198.18.71.0/24}\nhosts: [server, " + tt.nat + "]\n"
			doc = strings.Replace(doc, "hosts: [server, ", "hosts:\n  - server\n  - ", 1)
			doc = strings.TrimSuffix(doc, "]\n") + "\n"
			_, err := ParseTopology("t.yaml", []byte(doc))
			var fe FileErrors
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %s", err, tt.want)
			}
		})
	}
}

// FuzzParseTopologyNAT: no panic on any nat:, and a nat: the parser
// accepts is one netlab accepts too (the two checks agree).
func FuzzParseTopologyNAT(f *testing.F) {
	f.Add([]byte(natYAML))
	f.Add([]byte("lans:\n  - {name: wan, subnet: 198.18.70.0/24}\n  - {name: h, subnet: 198.18.71.0/24}\nhosts:\n  - {name: r, lans: [wan, h], router: true, nat: {outside: wan, type: symmetric, mapping: endpoint-independent, timeout: -1s}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > fuzzLimit {
			return
		}
		top, err := ParseTopology("fuzz.yaml", data)
		if err != nil {
			return
		}
		for _, h := range top.Hosts {
			if h.NAT == nil {
				continue
			}
			if _, err := h.NAT.Profile(); err != nil {
				t.Fatalf("parser accepted host %s's nat %+v, netlab refuses it: %v", h.Name, *h.NAT, err)
			}
		}
	})
}
