// Package matrix runs the NAT-pair matrix (docs/matrix.md): for every pair
// of network situations it derives the paths a v1.1 client pair must get
// from the NAT behaviours (Oracle), builds a lab with a server on a WAN and
// the two clients behind their NATs, runs trials (start, connect, chat both
// ways, cut the direct path, recover) and judges each trial against the
// oracle. Reports are sim/matrixreport's.
package matrix

import (
	"fmt"
	"strings"
	"time"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/sim/matrixreport"
)

// Side is one client's network situation.
type Side struct {
	// NAT is the NAT in front of the client; nil: the client sits on the
	// WAN itself.
	NAT *netlab.NATProfile
	// TCPBlocked: a firewall in front of the client drops every inbound
	// TCP segment with SYN and without ACK (netlab's Block): unsolicited
	// connections and the SYN half of a simultaneous open.
	TCPBlocked bool
}

// Situation is a pair: the initiator (the side that connects, docs/protocol.md
// 6.2 and 9.7) and the acceptor, and whether both sit behind one NAT.
type Situation struct {
	Initiator, Acceptor Side
	// SameNAT: both clients are on the inside LAN of one NAT, Initiator.NAT
	// (Acceptor.NAT is ignored).
	SameNAT bool
	// WANDelay is the one-way delay between the two sides' NATs (the sum
	// of the two home links'): it decides the race of a punch whose SYN
	// can get in only through the filter the other side opens at start.
	WANDelay time.Duration
}

// Expectation is what the oracle says of a situation.
type Expectation struct {
	// Paths is the set of paths the ladder of docs/protocol.md 9.7 may end
	// in, in ladder order: every rung that can work up to and including the
	// first that must work (relay when none must).
	Paths []matrixreport.Path
	// Rungs says, in ladder order, what the oracle found of each rung.
	Rungs []Rung
}

// Chance is whether a rung works.
type Chance int

// The chances of a rung.
const (
	// Never: the NAT behaviours rule it out.
	Never Chance = iota
	// Maybe: it works or not depending on which packet reaches a NAT
	// first (a race the protocol does not settle).
	Maybe
	// Always: the NAT behaviours let it through whatever the timing.
	Always
)

func (c Chance) String() string {
	return [...]string{"never", "maybe", "always"}[c]
}

// Rung is one attempt of the ladder with the oracle's finding.
type Rung struct {
	Method matrixreport.Path
	Chance Chance
	Why    string
}

// Why is the expectation's reasoning in one line.
func (e Expectation) Why() string {
	var parts []string
	for _, r := range e.Rungs {
		parts = append(parts, fmt.Sprintf("%s %s: %s", r.Method, r.Chance, r.Why))
	}
	return strings.Join(parts, "; ")
}

// Has reports whether p is in the set.
func (e Expectation) Has(p matrixreport.Path) bool {
	for _, q := range e.Paths {
		if q == p {
			return true
		}
	}
	return false
}

// DirectPossible reports whether the set holds a P2P path (so relay is a
// failure).
func (e Expectation) DirectPossible() bool {
	for _, p := range e.Paths {
		if p != matrixreport.PathRelay {
			return true
		}
	}
	return false
}

// view is how one side's packets look to the other and what its filter
// lets in, for the rung being judged.
type view struct {
	nat     *netlab.NATProfile // nil: no NAT (or hairpin: see hairpin)
	blocked bool
	// hairpin: the other side is reached through this side's own NAT's
	// outside address (same NAT): hairpinned packets are not filtered but
	// go nowhere with hairpinning off.
	hairpin, hairpinOn bool
}

// admitsUnsolicited: a packet from a peer this side never sent to gets in.
func (v view) admitsUnsolicited() bool {
	switch {
	case v.hairpin:
		return v.hairpinOn
	case v.nat == nil:
		return true
	}
	return v.nat.Filtering == netlab.EndpointIndependent
}

// keepsSource: what this side sends to a new destination leaves from the
// endpoint the server observed (its mapping does not depend on the
// destination).
func (v view) keepsSource() bool {
	return v.nat == nil || v.nat.Mapping == netlab.EndpointIndependent
}

// admitsAfterSend is whether a packet the peer sent to this side's
// observed endpoint, from the peer's observed endpoint when peerKeeps
// (else from a new port of the peer's address), gets in when this side
// sends to the peer's observed endpoint at the same moment: Always without
// a filter, Maybe when it gets in only if this side's packet left first
// (it opened the filter), Never when nothing this side sends opens it.
// This side's packet opens the filter of its observed mapping only if its
// mapping keeps the source (endpoint-independent): otherwise it goes out
// through a new mapping and the observed one stays closed.
func (v view) admitsAfterSend(peerKeeps bool) Chance {
	if v.admitsUnsolicited() {
		return Always
	}
	if v.hairpin || !v.keepsSource() {
		return Never
	}
	switch v.nat.Filtering {
	case netlab.AddressDependent:
		return Maybe // the address was sent to: in once our packet left
	case netlab.AddressAndPortDependent:
		if peerKeeps {
			return Maybe
		}
	}
	return Never
}

// Oracle returns the paths the situation must result in for two clients
// that run the whole ladder of docs/protocol.md 9.7 (v1.1 with `punch` and
// `quic` on both sides and the server). The reasoning of each row is in
// docs/matrix.md.
func Oracle(s Situation) Expectation {
	ini, acc := viewOf(s, s.Initiator), viewOf(s, s.Acceptor)
	var rungs []Rung
	if s.SameNAT {
		rungs = append(rungs, lanRung(s))
	}
	rungs = append(rungs, directRung(acc), tcpPunchRung(ini, acc, s.WANDelay), udpPunchRung(s, ini, acc))
	var e Expectation
	e.Rungs = rungs
	for _, r := range rungs {
		if r.Chance == Never {
			continue
		}
		e.Paths = append(e.Paths, r.Method)
		if r.Chance == Always {
			return e
		}
	}
	e.Paths = append(e.Paths, matrixreport.PathRelay)
	return e
}

func viewOf(s Situation, side Side) view {
	if s.SameNAT {
		n := s.Initiator.NAT
		on := n == nil || n.Hairpin
		return view{nat: n, blocked: side.TCPBlocked, hairpin: true, hairpinOn: on}
	}
	return view{nat: side.NAT, blocked: side.TCPBlocked}
}

func lanRung(s Situation) Rung {
	r := Rung{Method: matrixreport.PathLAN}
	if s.Acceptor.TCPBlocked {
		r.Why = "the acceptor's firewall drops the SYN on the shared LAN"
		return r
	}
	r.Chance, r.Why = Always, "one LAN, no NAT between them: the local endpoint answers"
	return r
}

func directRung(acc view) Rung {
	r := Rung{Method: matrixreport.PathDirect}
	switch {
	case acc.blocked:
		r.Why = "the acceptor's firewall drops an unsolicited SYN"
	case acc.hairpin && !acc.hairpinOn:
		r.Why = "the advertised endpoint is the NAT's outside address and the NAT does not hairpin"
	case acc.hairpin:
		r.Chance, r.Why = Always, "the NAT hairpins to the advertised endpoint without filtering"
	case acc.nat == nil:
		r.Chance, r.Why = Always, "the acceptor has no NAT: its advertised endpoint takes any SYN"
	case acc.admitsUnsolicited():
		r.Chance, r.Why = Always, "the acceptor's NAT filters nothing (endpoint-independent): the SYN reaches its listener"
	default:
		r.Why = fmt.Sprintf("the acceptor's NAT filters %s and never sent to the initiator", acc.nat.Filtering)
	}
	return r
}

// tcpPunchRung: both sides dial each other's observed TCP endpoint at once
// (9.6 step 4). A connection forms when one side's SYN gets into the other
// (through its NAT, past its firewall): into a matching connect (a
// simultaneous open) or into its listener; the answer then carries ACK and
// passes every filter, since the dialler sent to where it comes from.
func tcpPunchRung(ini, acc view, wan time.Duration) Rung {
	r := Rung{Method: matrixreport.PathTCPPunch}
	in := func(to, from view) Chance { // from's SYN into to
		if to.blocked {
			return Never
		}
		return to.admitsAfterSend(from.keepsSource())
	}
	a, b := in(acc, ini), in(ini, acc)
	switch {
	case a == Always || b == Always:
		r.Chance, r.Why = Always, "one side lets the other's SYN in whatever the timing"
	case a == Maybe && b == Maybe:
		// Each SYN opens the sender's filter for the other: whichever
		// leaves first, the later one arrives after the other's filter opened.
		r.Chance, r.Why = Always, "both NATs keep the source port and open for the other's endpoint when their own SYN leaves: the later SYN gets in"
	case (a == Maybe || b == Maybe) && wan > 0:
		// The timetable of 9.6 starts both sides together: the side whose
		// filter can open sends at start, and the other's SYN reaches that
		// filter only after crossing the WAN, WANDelay later.
		r.Chance, r.Why = Always, fmt.Sprintf("only one SYN can get in, through the filter the other side opens at start; the timetable starts both together and that SYN crosses %s of WAN first", wan)
	case a == Maybe || b == Maybe:
		r.Chance, r.Why = Maybe, "only one SYN can get in, and only if the filter it meets opened first: without WAN delay a race"
	default:
		r.Why = tcpNeverWhy(ini, acc)
	}
	return r
}

func tcpNeverWhy(ini, acc view) string {
	if ini.blocked && acc.blocked {
		return "both firewalls drop SYNs"
	}
	if ini.hairpin && !ini.hairpinOn {
		return "the observed endpoints are the NAT's outside address and it does not hairpin"
	}
	return "each SYN meets a filter that only lets in the exact endpoint sent to, and a destination-dependent mapping sends from another port"
}

// udpPunchRung: both send Punch datagrams to the other's observed UDP
// endpoint and take only datagrams (and QUIC) from exactly there (9.6 step
// 5, 9.8), so both sides' mappings must keep the source; repeated sends
// open every filter that depends on what was sent.
func udpPunchRung(s Situation, ini, acc view) Rung {
	r := Rung{Method: matrixreport.PathUDPPunch}
	switch {
	case s.SameNAT && !ini.hairpinOn:
		r.Why = "the observed UDP endpoints are the NAT's outside address and it does not hairpin"
	case !ini.keepsSource() || !acc.keepsSource():
		r.Why = "a destination-dependent mapping sends the punch from a port the peer does not expect (only the observed endpoint is taken)"
	default:
		r.Chance, r.Why = Always, "both mappings keep the observed endpoint and datagrams every 50 ms open both filters"
	}
	return r
}

// Recovery is the oracle for the connection made again after the direct
// path was cut and healed, when the first connection took path first: the
// same set, plus direct after a TCP punch. The NATs keep the mappings of
// the punched connection (a TCP mapping outlives its connection by
// minutes, RFC 5382 REQ-5) with their filters open to the peer's
// endpoints, so the initiator's plain dial from the same endpoint may now
// get through where it could not before.
func Recovery(s Situation, first matrixreport.Path) Expectation {
	e := Oracle(s)
	if first != matrixreport.PathTCPPunch || e.Has(matrixreport.PathDirect) {
		return e
	}
	r := Rung{Method: matrixreport.PathDirect, Chance: Maybe, Why: "the punched connection's mappings are still open to the peer"}
	e.Rungs = append([]Rung{r}, e.Rungs...)
	e.Paths = append([]matrixreport.Path{matrixreport.PathDirect}, e.Paths...)
	return e
}
