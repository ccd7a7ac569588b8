package netlab

import (
	"fmt"
	"net/netip"
	"regexp"
)

// validName is the form of host and LAN names: it keeps them usable in
// namespace, file, container and network names.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$`)

// validRunID is the form of a run id: Prefix, then lower-case letters and
// digits (no '-', which separates the run id from the rest of a name).
var validRunID = regexp.MustCompile(`^` + Prefix + `[a-z0-9]{1,12}$`)

// ValidRunID reports whether id can name a lab.
func ValidRunID(id string) bool { return validRunID.MatchString(id) }

// Resolve checks t and returns a copy with every NIC addressed. It refuses
// (naming the host or LAN) duplicate or bad names, subnets outside LabRange
// or overlapping each other, hosts on unknown LANs or twice on one LAN,
// addresses outside their subnet, reserved or taken, and LANs with more hosts
// than addresses. Hosts get addresses from the third address of the subnet
// on (the first is the subnet itself, the second is reserved for the LAN, as
// Docker reserves it for a gateway), skipping addresses given explicitly.
func (t Topology) Resolve() (Topology, error) {
	lans := make(map[string]int, len(t.LANs))
	for i, l := range t.LANs {
		if !validName.MatchString(l.Name) {
			return Topology{}, fmt.Errorf("netlab: LAN %q: bad name (want 1-32 of A-Z a-z 0-9 _ . -, starting with a letter or digit)", l.Name)
		}
		if _, dup := lans[l.Name]; dup {
			return Topology{}, fmt.Errorf("netlab: LAN %q: duplicate name", l.Name)
		}
		lans[l.Name] = i
		p := l.Subnet
		switch {
		case !p.IsValid():
			return Topology{}, fmt.Errorf("netlab: LAN %q: no subnet", l.Name)
		case !p.Addr().Is4():
			return Topology{}, fmt.Errorf("netlab: LAN %q: subnet %s is not IPv4", l.Name, p)
		case p != p.Masked():
			return Topology{}, fmt.Errorf("netlab: LAN %q: subnet %s has host bits set (want %s)", l.Name, p, p.Masked())
		case p.Bits() < LabRange.Bits() || !LabRange.Contains(p.Addr()):
			return Topology{}, fmt.Errorf("netlab: LAN %q: subnet %s is outside %s", l.Name, p, LabRange)
		case p.Bits() > 30:
			return Topology{}, fmt.Errorf("netlab: LAN %q: subnet %s is too small (at most /30)", l.Name, p)
		}
		for _, o := range t.LANs[:i] {
			if o.Subnet.Overlaps(p) {
				return Topology{}, fmt.Errorf("netlab: LAN %q: subnet %s overlaps LAN %q (%s)", l.Name, p, o.Name, o.Subnet)
			}
		}
	}

	out := Topology{LANs: append([]LAN(nil), t.LANs...), Hosts: make([]HostSpec, len(t.Hosts))}
	taken := make(map[netip.Addr]string)
	hosts := make(map[string]bool, len(t.Hosts))
	for i, h := range t.Hosts {
		if !validName.MatchString(h.Name) {
			return Topology{}, fmt.Errorf("netlab: host %q: bad name (want 1-32 of A-Z a-z 0-9 _ . -, starting with a letter or digit)", h.Name)
		}
		if hosts[h.Name] {
			return Topology{}, fmt.Errorf("netlab: host %q: duplicate name", h.Name)
		}
		hosts[h.Name] = true
		if len(h.NICs) == 0 {
			return Topology{}, fmt.Errorf("netlab: host %q: no NIC", h.Name)
		}
		if h.Router && len(h.NICs) < 2 {
			return Topology{}, fmt.Errorf("netlab: host %q: a router needs NICs on two LANs", h.Name)
		}
		if err := checkNAT(h); err != nil {
			return Topology{}, err
		}
		nics, err := h.impairNICs()
		if err != nil {
			return Topology{}, err
		}
		seen := make(map[string]bool, len(h.NICs))
		for _, n := range nics {
			li, ok := lans[n.LAN]
			if !ok {
				return Topology{}, fmt.Errorf("netlab: host %q: unknown LAN %q", h.Name, n.LAN)
			}
			if seen[n.LAN] {
				return Topology{}, fmt.Errorf("netlab: host %q: two NICs on LAN %q", h.Name, n.LAN)
			}
			seen[n.LAN] = true
			if !n.Addr.IsValid() {
				continue
			}
			p := t.LANs[li].Subnet
			if !p.Contains(n.Addr) {
				return Topology{}, fmt.Errorf("netlab: host %q: address %s is outside LAN %q (%s)", h.Name, n.Addr, n.LAN, p)
			}
			if n.Addr == p.Addr() || n.Addr == p.Addr().Next() || n.Addr == lastAddr(p) {
				return Topology{}, fmt.Errorf("netlab: host %q: address %s is reserved on LAN %q (subnet, LAN or broadcast address)", h.Name, n.Addr, n.LAN)
			}
			if other, dup := taken[n.Addr]; dup {
				return Topology{}, fmt.Errorf("netlab: host %q: address %s is taken by host %q", h.Name, n.Addr, other)
			}
			taken[n.Addr] = h.Name
		}
		out.Hosts[i] = HostSpec{Name: h.Name, Router: h.Router, NICs: append([]NIC(nil), h.NICs...)}
		out.Hosts[i].NICs = nics // host-level impair moved onto its NIC
		out.Hosts[i].NAT = cloneNAT(h.NAT)
	}
	if err := checkNATs(t); err != nil {
		return Topology{}, err
	}

	next := make(map[string]netip.Addr, len(t.LANs))
	for _, l := range t.LANs {
		next[l.Name] = l.Subnet.Addr().Next().Next()
	}
	for i := range out.Hosts {
		h := &out.Hosts[i]
		for j := range h.NICs {
			n := &h.NICs[j]
			if n.Addr.IsValid() {
				continue
			}
			p := t.LANs[lans[n.LAN]].Subnet
			a := next[n.LAN]
			for taken[a] != "" {
				a = a.Next()
			}
			if !p.Contains(a) || a == lastAddr(p) {
				return Topology{}, fmt.Errorf("netlab: host %q: LAN %q (%s) has no free address left: too many hosts", h.Name, n.LAN, p)
			}
			n.Addr = a
			taken[a] = h.Name
			next[n.LAN] = a.Next()
		}
	}
	return out, nil
}

// lastAddr is the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Route is a route a host needs to reach a LAN it is not on.
type Route struct {
	Dst netip.Prefix
	Via netip.Addr
}

// Routes returns, for a host of a resolved topology, a route to every LAN the
// host is not on but that a router on one of the host's LANs is (one hop;
// the first such router in topology order wins). Routers themselves get
// routes too, for LANs they reach through another router. A NAT router
// routes to its inside LANs only for hosts inside it; a host on a NAT's
// inside LAN gets its default route (0.0.0.0/0) through that NAT.
func (t Topology) Routes(host string) []Route {
	var me *HostSpec
	for i := range t.Hosts {
		if t.Hosts[i].Name == host {
			me = &t.Hosts[i]
		}
	}
	if me == nil {
		return nil
	}
	on := map[string]bool{}
	for _, n := range me.NICs {
		on[n.LAN] = true
	}
	var out []Route
	if gw, ok := natGateway(t, me); ok {
		out = append(out, Route{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Via: gw})
	}
	for _, l := range t.LANs {
		if on[l.Name] {
			continue
		}
	routers:
		for _, r := range t.Hosts {
			if !r.Router || r.Name == host || r.NICOn(l.Name) == nil {
				continue
			}
			for _, n := range r.NICs {
				if natInside(&r, l.Name) && !natInside(&r, n.LAN) {
					continue // a NAT does not route its inside from outside
				}
				if on[n.LAN] {
					out = append(out, Route{Dst: l.Subnet, Via: n.Addr})
					break routers
				}
			}
		}
	}
	return out
}

// NICOn returns the host's NIC on a LAN, or nil.
func (h *HostSpec) NICOn(lan string) *NIC {
	for i := range h.NICs {
		if h.NICs[i].LAN == lan {
			return &h.NICs[i]
		}
	}
	return nil
}
