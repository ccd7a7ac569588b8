package matrix

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/sim/matrixreport"
)

// ErrBadKind is a kind name Kinds does not know.
var ErrBadKind = errors.New("matrix: unknown kind")

// Kind is one network situation of the matrix's rows and columns.
type Kind struct {
	// Name is what the command line and the reports call it.
	Name string
	// NAT is the NAT in front of a client of this kind (nil: none).
	NAT *netlab.NATSpec
	// TCPBlocked: inbound SYNs to the client are dropped (suffix -notcp).
	TCPBlocked bool
	// SameNAT: both clients of the pair sit behind this one NAT; such a
	// kind pairs only with itself.
	SameNAT bool
}

// Description says what the kind is, for the reports.
func (k Kind) Description() string {
	var s string
	switch {
	case k.NAT == nil:
		s = "no NAT: the client is on the WAN"
	default:
		p, _ := k.NAT.Profile()
		s = fmt.Sprintf("mapping %s, filtering %s, ports %s, hairpin %t", p.Mapping, p.Filtering, p.Ports, p.Hairpin)
		if k.SameNAT {
			s = "both clients behind one NAT: " + s
		}
	}
	if k.TCPBlocked {
		s += "; inbound TCP SYNs dropped in front of the client"
	}
	return s
}

func (k Kind) side() Side {
	s := Side{TCPBlocked: k.TCPBlocked}
	if k.NAT != nil {
		p, err := k.NAT.Profile()
		if err == nil {
			s.NAT = &p
		}
	}
	return s
}

// DefaultKinds are the kinds `p2plab matrix` runs without --kinds.
var DefaultKinds = []string{"none", "full-cone", "restricted-cone", "port-restricted-cone", "symmetric", "same-nat", "same-nat-no-hairpin"}

// KindByName resolves a kind name: none, a netlab NAT preset, same-nat,
// same-nat-no-hairpin, each optionally with the suffix -notcp.
func KindByName(name string) (Kind, error) {
	k := Kind{Name: name}
	base, blocked := strings.CutSuffix(name, "-notcp")
	k.TCPBlocked = blocked
	off := false
	switch base {
	case "none":
	case "same-nat":
		k.SameNAT = true
		k.NAT = &netlab.NATSpec{Outside: "wan", Type: netlab.PortRestrictedCone}
	case "same-nat-no-hairpin":
		k.SameNAT = true
		k.NAT = &netlab.NATSpec{Outside: "wan", Type: netlab.PortRestrictedCone, Hairpin: &off}
	default:
		for _, t := range netlab.NATTypes {
			if string(t) == base {
				k.NAT = &netlab.NATSpec{Outside: "wan", Type: t}
			}
		}
		if k.NAT == nil {
			return Kind{}, fmt.Errorf("%w %q (none, %v, same-nat, same-nat-no-hairpin; -notcp blocks inbound TCP)", ErrBadKind, name, netlab.NATTypes)
		}
	}
	return k, nil
}

// Pair is one cell: Row (the initiator, user alice) connects to Col (the
// acceptor, user bob).
type Pair struct {
	Row, Col Kind
}

// Name is "row/col".
func (p Pair) Name() string { return p.Row.Name + "/" + p.Col.Name }

// Situation is the pair's input to the oracle.
func (p Pair) Situation(delay time.Duration) Situation {
	s := Situation{Initiator: p.Row.side(), Acceptor: p.Col.side(), SameNAT: p.Row.SameNAT}
	// The one-way delay between the two edges: each home link's.
	if !s.SameNAT {
		s.WANDelay = 2 * delay
	}
	return s
}

// Pairs lists the cells of kinds: every ordered pair of kinds that are not
// same-NAT, and each same-NAT kind with itself.
func Pairs(kinds []Kind) []Pair {
	var out []Pair
	for _, r := range kinds {
		if r.SameNAT {
			continue
		}
		for _, c := range kinds {
			if !c.SameNAT {
				out = append(out, Pair{Row: r, Col: c})
			}
		}
	}
	for _, k := range kinds {
		if k.SameNAT {
			out = append(out, Pair{Row: k, Col: k})
		}
	}
	return out
}

// Users of every pair: the initiator (row) and the acceptor (column).
const (
	Initiator = "alice"
	Acceptor  = "bob"
)

// Topology is the pair's lab: a WAN with the server, and each client
// either on the WAN or on a home LAN behind its NAT (one home LAN for a
// same-NAT pair); delay is added both ways on each home link (the edge's
// WAN NIC: the NAT router's, or the client's own without NAT).
func (p Pair) Topology(delay time.Duration) netlab.Topology {
	var imp *netlab.Impairment
	if delay > 0 {
		imp = &netlab.Impairment{Delay: delay}
	}
	t := netlab.Topology{
		LANs:  []netlab.LAN{{Name: "wan", Subnet: netip.MustParsePrefix("198.18.30.0/24")}},
		Hosts: []netlab.HostSpec{{Name: "server", NICs: []netlab.NIC{{LAN: "wan"}}}},
	}
	if p.Row.SameNAT {
		t.LANs = append(t.LANs, netlab.LAN{Name: "home1", Subnet: netip.MustParsePrefix("198.18.31.0/24")})
		nat := *p.Row.NAT
		t.Hosts = append(t.Hosts,
			netlab.HostSpec{Name: "nat1", Router: true, NAT: &nat, NICs: []netlab.NIC{{LAN: "wan", Impair: imp}, {LAN: "home1"}}},
			netlab.HostSpec{Name: Initiator, NICs: []netlab.NIC{{LAN: "home1"}}},
			netlab.HostSpec{Name: Acceptor, NICs: []netlab.NIC{{LAN: "home1"}}})
		return t
	}
	for i, side := range []struct {
		user string
		k    Kind
	}{{Initiator, p.Row}, {Acceptor, p.Col}} {
		if side.k.NAT == nil {
			t.Hosts = append(t.Hosts, netlab.HostSpec{Name: side.user, NICs: []netlab.NIC{{LAN: "wan", Impair: imp}}})
			continue
		}
		home := fmt.Sprintf("home%d", i+1)
		t.LANs = append(t.LANs, netlab.LAN{Name: home, Subnet: netip.MustParsePrefix(fmt.Sprintf("198.18.%d.0/24", 31+i))})
		nat := *side.k.NAT
		t.Hosts = append(t.Hosts,
			netlab.HostSpec{Name: fmt.Sprintf("nat%d", i+1), Router: true, NAT: &nat, NICs: []netlab.NIC{{LAN: "wan", Impair: imp}, {LAN: home}}},
			netlab.HostSpec{Name: side.user, NICs: []netlab.NIC{{LAN: home}}})
	}
	return t
}

// edge is the host whose address a client's packets carry on the WAN.
func (p Pair) edge(user string) string {
	k := p.Row
	n := "nat1"
	if user == Acceptor {
		k, n = p.Col, "nat2"
	}
	if p.Row.SameNAT {
		return "nat1"
	}
	if k.NAT == nil {
		return user
	}
	return n
}

func reportKinds(kinds []Kind) []matrixreport.Kind {
	out := make([]matrixreport.Kind, len(kinds))
	for i, k := range kinds {
		out[i] = matrixreport.Kind{Name: k.Name, Description: k.Description()}
	}
	return out
}
