package netlab

import "net/netip"

// Topology describes a lab network: LANs and the hosts on them. It is plain
// configuration, kept apart from a running Lab.
type Topology struct {
	LANs  []LAN      `json:"lans" yaml:"lans"`
	Hosts []HostSpec `json:"hosts" yaml:"hosts"`
}

// LAN is one broadcast domain (a bridge, or a Docker network).
type LAN struct {
	Name string `json:"name" yaml:"name"`
	// Subnet must lie inside 198.18.0.0/15. The first address is reserved
	// for the LAN itself; hosts get the next ones in order.
	Subnet netip.Prefix `json:"subnet" yaml:"subnet"`
}

// HostSpec is one host: one network namespace or container.
type HostSpec struct {
	Name string `json:"name" yaml:"name"`
	NICs []NIC  `json:"nics" yaml:"nics"`
	// Router makes the host forward packets between its LANs.
	Router bool `json:"router,omitempty" yaml:"router,omitempty"`
	// Impair, for a host with one NIC, impairs that NIC (as NIC.Impair).
	Impair *Impairment `json:"impair,omitempty" yaml:"impair,omitempty"`
	// NAT makes a router translate addresses between its inside LANs and
	// its NIC on NAT.Outside (nat.go). Hosts on its inside LANs get their
	// default route through it; hosts outside get no route to them.
	NAT *NATSpec `json:"nat,omitempty" yaml:"nat,omitempty"`
}

// NIC attaches a host to a LAN. A zero Addr is filled in with the LAN's next
// free address.
type NIC struct {
	LAN  string     `json:"lan" yaml:"lan"`
	Addr netip.Addr `json:"addr,omitzero" yaml:"addr,omitempty"`
	// Impair is applied to the NIC when the lab comes up and stays until
	// it closes (docs/netlab.md, "Impairments").
	Impair *Impairment `json:"impair,omitempty" yaml:"impair,omitempty"`
}

// LabRange is the address range every lab address must come from
// (RFC 2544 benchmarking range).
var LabRange = netip.MustParsePrefix("198.18.0.0/15")
