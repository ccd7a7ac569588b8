package natcheck

import (
	"fmt"

	"github.com/p2plab/p2plab/netlab"
)

// ProbeLab is a topology with two probe hosts added for a client.
type ProbeLab struct {
	// Topology is the given one plus the probe hosts.
	Topology netlab.Topology
	// Probes are the names of the two probe hosts.
	Probes [2]string
	// WAN is the LAN the probes are on.
	WAN string
	// NATs are the NAT routers between the client and WAN, innermost
	// first (none: the client is on WAN).
	NATs []string
}

// WithProbes adds two probe hosts to t for classifying what lies between
// host and LAN wan. With wan "" the probes go on the outside LAN of the
// outermost NAT on the client's way out (following each NAT's outside LAN
// while it is the inside of another NAT), or on the client's own LAN if it
// is behind none.
func WithProbes(t netlab.Topology, host, wan string) (ProbeLab, error) {
	var me *netlab.HostSpec
	for i := range t.Hosts {
		if t.Hosts[i].Name == host {
			me = &t.Hosts[i]
		}
	}
	if me == nil {
		return ProbeLab{}, fmt.Errorf("natcheck: no host %q in the topology", host)
	}
	if len(me.NICs) == 0 {
		return ProbeLab{}, fmt.Errorf("natcheck: host %q has no NIC", host)
	}
	pl := ProbeLab{WAN: wan}
	lan := me.NICs[0].LAN
	for range len(t.Hosts) {
		r := natFor(t, lan)
		if r == nil || lan == wan {
			break
		}
		pl.NATs = append(pl.NATs, r.Name)
		lan = r.NAT.Outside
	}
	if pl.WAN == "" {
		pl.WAN = lan
	}
	known := false
	for _, l := range t.LANs {
		known = known || l.Name == pl.WAN
	}
	if !known {
		return ProbeLab{}, fmt.Errorf("natcheck: no LAN %q in the topology", pl.WAN)
	}
	taken := map[string]bool{}
	for _, h := range t.Hosts {
		taken[h.Name] = true
	}
	out := t
	out.Hosts = append([]netlab.HostSpec(nil), t.Hosts...)
	for i := range 2 {
		name := fmt.Sprintf("natprobe%d", i+1)
		for n := 2; taken[name]; n++ {
			name = fmt.Sprintf("natprobe%d-%d", i+1, n)
		}
		taken[name] = true
		pl.Probes[i] = name
		out.Hosts = append(out.Hosts, netlab.HostSpec{Name: name, NICs: []netlab.NIC{{LAN: pl.WAN}}})
	}
	pl.Topology = out
	return pl, nil
}

// natFor is the NAT router whose inside LAN lan is, or nil.
func natFor(t netlab.Topology, lan string) *netlab.HostSpec {
	for i := range t.Hosts {
		r := &t.Hosts[i]
		if r.NAT != nil && r.NAT.Outside != lan && r.NICOn(lan) != nil {
			return r
		}
	}
	return nil
}
