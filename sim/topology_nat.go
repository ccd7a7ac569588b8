package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// readNAT reads a host's nat: mapping (docs/netlab.md, "NAT routers") and
// checks it where the problem is: every error names the host, the NIC's
// LAN and the field, at the field's file:line:column. h has its name,
// router flag and NICs already.
func readNAT(n node, h netlab.HostSpec) *netlab.NATSpec {
	m, ok := n.asMap("outside", "type", "mapping", "filtering", "ports", "hairpin", "timeout")
	if !ok {
		return nil
	}
	s := &netlab.NATSpec{
		Outside:   m.get("outside").reqStr(),
		Type:      netlab.NATType(optStr(m.get("type"))),
		Mapping:   netlab.NATBehavior(optStr(m.get("mapping"))),
		Filtering: netlab.NATBehavior(optStr(m.get("filtering"))),
		Ports:     netlab.NATPorts(optStr(m.get("ports"))),
	}
	if hp := m.get("hairpin"); !hp.absent() {
		v := hp.boolean(true)
		s.Hairpin = &v
	}
	if tn := m.get("timeout"); !tn.absent() {
		str, _ := tn.str()
		d, err := time.ParseDuration(str)
		if err != nil {
			tn.e.add(tn, "host %s: %q is not a duration (e.g. 30s, 2m)", h.Name, str)
		} else {
			s.Timeout = d
		}
	}
	nic := fmt.Sprintf("host %s: NIC on LAN %s", h.Name, s.Outside)
	if !h.Router {
		n.e.add(n, "%s: nat on a host that is not a router (set router: true)", nic)
	}
	if s.Outside != "" && h.NICOn(s.Outside) == nil {
		m.get("outside").e.add(m.get("outside"), "host %s: nat.outside %q is not one of the host's LANs", h.Name, s.Outside)
	}
	_, err := s.Profile()
	for _, e := range flatten(err) {
		var fe *netlab.NATFieldError
		if errors.As(e, &fe) {
			f := m.get(fe.Field)
			f.e.add(f, "%s: %s", nic, fe.Msg)
		}
	}
	return s
}

// optStr reads an optional scalar ("" if absent).
func optStr(n node) string {
	s, _ := n.str()
	return s
}

// flatten lists the errors of an errors.Join tree.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
