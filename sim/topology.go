package sim

import (
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"regexp"

	"github.com/p2plab/p2plab/netlab"
)

// DefaultSubnet is the LAN of a topology that names no LAN.
var DefaultSubnet = netip.MustParsePrefix("198.18.1.0/24")

var reName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,14}$`)

// ParseTopology reads a topology file. Two forms are accepted:
//
//	hosts: [server, alice, bob]          # one LAN "lan", 198.18.1.0/24
//	subnet: 198.18.7.0/24                # optional, with the short form
//
// and the full form, with several LANs and per-host NICs:
//
//	lans:
//	  - {name: a, subnet: 198.18.1.0/24}
//	hosts:
//	  - {name: server, lans: [a]}
//	  - {name: r, nics: [{lan: a, addr: 198.18.1.254}], router: true}
//	  - {name: nat1, lans: [a, home], router: true, nat: {outside: a, type: symmetric}}
func ParseTopology(file string, data []byte) (netlab.Topology, error) {
	e := &errs{}
	root, ok := parseDoc(file, data, e)
	if !ok {
		return netlab.Topology{}, e.err()
	}
	t := readTopology(root)
	return t, e.err()
}

// LoadTopology reads a topology file from fsys.
func LoadTopology(fsys fs.FS, name string) (netlab.Topology, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return netlab.Topology{}, fmt.Errorf("sim: topology %s: %w", name, err)
	}
	return ParseTopology(name, data)
}

func readTopology(n node) netlab.Topology {
	var t netlab.Topology
	m, ok := n.asMap("name", "lans", "subnet", "hosts")
	if !ok {
		return t
	}
	if m.has("lans") && m.has("subnet") {
		m.e().add(m.get("subnet"), "use either subnet (one LAN) or lans, not both")
	}
	lanIdx := map[string]int{}
	if m.has("lans") {
		for _, ln := range m.get("lans").seq(false) {
			lm, ok := ln.asMap("name", "subnet")
			if !ok {
				continue
			}
			name := lm.get("name").reqStr()
			if name != "" && !reName.MatchString(name) {
				m.e().add(lm.get("name"), "%q is not a name (a-z, 0-9, -, up to 15, starting with a letter)", name)
			}
			if _, dup := lanIdx[name]; dup {
				m.e().add(lm.get("name"), "duplicate LAN %q", name)
			}
			p := readPrefix(lm.get("subnet"))
			lanIdx[name] = len(t.LANs)
			t.LANs = append(t.LANs, netlab.LAN{Name: name, Subnet: p})
		}
		if len(t.LANs) == 0 {
			m.e().add(m.get("lans"), "want at least one LAN")
		}
	} else {
		p := DefaultSubnet
		if m.has("subnet") {
			p = readPrefix(m.get("subnet"))
		}
		lanIdx["lan"] = 0
		t.LANs = []netlab.LAN{{Name: "lan", Subnet: p}}
	}
	hosts := m.get("hosts")
	if hosts.absent() {
		m.e().add(hosts, "missing")
	}
	seen := map[string]bool{}
	for _, hn := range hosts.seq(false) {
		var h netlab.HostSpec
		var natNode *node // the host's nat:, read once its NICs are known
		nameNode := hn
		if hn.isMap() {
			hm, ok := hn.asMap("name", "lans", "nics", "router", "nat", "impair")
			if !ok {
				continue
			}
			nameNode = hm.get("name")
			h.Name = nameNode.reqStr()
			h.Router = hm.get("router").boolean(false)
			if hm.has("nat") {
				nn := hm.get("nat")
				natNode = &nn
			}
			if hm.has("lans") && hm.has("nics") {
				m.e().add(hm.get("nics"), "use either lans or nics, not both")
			}
			for _, l := range hm.get("lans").seq(true) {
				s, _ := l.str()
				if _, ok := lanIdx[s]; !ok {
					m.e().add(l, "no LAN %q in this topology", s)
				}
				h.NICs = append(h.NICs, netlab.NIC{LAN: s})
			}
			for _, nn := range hm.get("nics").seq(false) {
				nm, ok := nn.asMap("lan", "addr", "impair")
				if !ok {
					continue
				}
				nic := netlab.NIC{LAN: nm.get("lan").reqStr()}
				i, ok := lanIdx[nic.LAN]
				if !ok && nic.LAN != "" {
					m.e().add(nm.get("lan"), "no LAN %q in this topology", nic.LAN)
				}
				if a := nm.get("addr"); !a.absent() {
					s, _ := a.str()
					addr, err := netip.ParseAddr(s)
					switch {
					case err != nil || !addr.Is4():
						m.e().add(a, "%q is not an IPv4 address", s)
					case ok && !t.LANs[i].Subnet.Contains(addr):
						m.e().add(a, "%s is not in LAN %s (%s)", addr, nic.LAN, t.LANs[i].Subnet)
					default:
						nic.Addr = addr
					}
				}
				nic.Impair = readImpair(nm.get("impair"), h.Name, nic.LAN)
				h.NICs = append(h.NICs, nic)
			}
			if in := hm.get("impair"); !in.absent() {
				h.Impair = readImpair(in, h.Name, "")
				if len(h.NICs) > 1 {
					m.e().add(in, "host %q: impair on a host with %d NICs: put it on one of its nics", h.Name, len(h.NICs))
				}
			}
		} else {
			h.Name = hn.reqStr()
		}
		if len(h.NICs) == 0 {
			h.NICs = []netlab.NIC{{LAN: t.LANs[0].Name}}
		}
		if natNode != nil {
			h.NAT = readNAT(*natNode, h)
		}
		if h.Name != "" && !reName.MatchString(h.Name) {
			m.e().add(nameNode, "%q is not a host name (a-z, 0-9, -, up to 15, starting with a letter)", h.Name)
		}
		if seen[h.Name] {
			m.e().add(nameNode, "duplicate host %q", h.Name)
		}
		seen[h.Name] = true
		t.Hosts = append(t.Hosts, h)
	}
	return t
}

func (m mapping) e() *errs { return m.n.e }

func readPrefix(n node) netip.Prefix {
	s := n.reqStr()
	if s == "" {
		return netip.Prefix{}
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		n.e.add(n, "%q is not an IPv4 subnet (e.g. 198.18.1.0/24)", s)
		return netip.Prefix{}
	}
	p = p.Masked()
	if !netlab.LabRange.Contains(p.Addr()) || p.Bits() < netlab.LabRange.Bits() {
		n.e.add(n, "%s is outside the lab range %s", p, netlab.LabRange)
	}
	if p.Bits() > 29 {
		n.e.add(n, "%s is too small (at most /29)", p)
	}
	return p
}

// topologyPath is where a named topology lives in a scenario FS.
func topologyPath(name string) string { return path.Join("topologies", name+".yaml") }
