package matrix

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/sim/matrixreport"
)

const (
	lan   = matrixreport.PathLAN
	dir   = matrixreport.PathDirect
	tcp   = matrixreport.PathTCPPunch
	udp   = matrixreport.PathUDPPunch
	relay = matrixreport.PathRelay
)

func kind(t *testing.T, name string) Kind {
	t.Helper()
	k, err := KindByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The table of docs/matrix.md: row (initiator) connects to column
// (acceptor), 20 ms per home link.
var oracleTable = []struct {
	row, col string
	want     []matrixreport.Path
}{
	{"none", "none", []matrixreport.Path{dir}},
	{"none", "full-cone", []matrixreport.Path{dir}},
	{"none", "restricted-cone", []matrixreport.Path{tcp}},
	{"none", "port-restricted-cone", []matrixreport.Path{tcp}},
	{"none", "symmetric", []matrixreport.Path{tcp}},
	{"full-cone", "none", []matrixreport.Path{dir}},
	{"full-cone", "full-cone", []matrixreport.Path{dir}},
	{"full-cone", "restricted-cone", []matrixreport.Path{tcp}},
	{"full-cone", "port-restricted-cone", []matrixreport.Path{tcp}},
	{"full-cone", "symmetric", []matrixreport.Path{tcp}},
	{"restricted-cone", "none", []matrixreport.Path{dir}},
	{"restricted-cone", "full-cone", []matrixreport.Path{dir}},
	{"restricted-cone", "restricted-cone", []matrixreport.Path{tcp}},
	{"restricted-cone", "port-restricted-cone", []matrixreport.Path{tcp}},
	{"restricted-cone", "symmetric", []matrixreport.Path{tcp}},
	{"port-restricted-cone", "none", []matrixreport.Path{dir}},
	{"port-restricted-cone", "full-cone", []matrixreport.Path{dir}},
	{"port-restricted-cone", "restricted-cone", []matrixreport.Path{tcp}},
	{"port-restricted-cone", "port-restricted-cone", []matrixreport.Path{tcp}},
	{"port-restricted-cone", "symmetric", []matrixreport.Path{relay}},
	{"symmetric", "none", []matrixreport.Path{dir}},
	{"symmetric", "full-cone", []matrixreport.Path{dir}},
	{"symmetric", "restricted-cone", []matrixreport.Path{tcp}},
	{"symmetric", "port-restricted-cone", []matrixreport.Path{relay}},
	{"symmetric", "symmetric", []matrixreport.Path{relay}},
	{"same-nat", "same-nat", []matrixreport.Path{lan}},
	{"same-nat-no-hairpin", "same-nat-no-hairpin", []matrixreport.Path{lan}},
	// TCP blocked in front of a side.
	{"none-notcp", "none", []matrixreport.Path{dir}},
	{"none", "none-notcp", []matrixreport.Path{tcp}},
	{"port-restricted-cone", "port-restricted-cone-notcp", []matrixreport.Path{tcp}},
	{"port-restricted-cone-notcp", "port-restricted-cone-notcp", []matrixreport.Path{udp}},
	{"full-cone-notcp", "full-cone-notcp", []matrixreport.Path{udp}},
	{"symmetric-notcp", "full-cone-notcp", []matrixreport.Path{relay}},
	{"symmetric", "restricted-cone-notcp", []matrixreport.Path{relay}},
	{"restricted-cone-notcp", "symmetric", []matrixreport.Path{relay}},
	{"same-nat-notcp", "same-nat-notcp", []matrixreport.Path{udp}},
	{"same-nat-no-hairpin-notcp", "same-nat-no-hairpin-notcp", []matrixreport.Path{relay}},
}

func TestOracleTable(t *testing.T) {
	for _, row := range oracleTable {
		p := Pair{Row: kind(t, row.row), Col: kind(t, row.col)}
		e := Oracle(p.Situation(20 * time.Millisecond))
		if !slices.Equal(e.Paths, row.want) {
			t.Errorf("%s -> %s: got %v, want %v\n  %s", row.row, row.col, e.Paths, row.want, e.Why())
		}
		if e.Why() == "" {
			t.Errorf("%s -> %s: no reasoning", row.row, row.col)
		}
	}
}

// Every default pair has a row in the table (so docs/matrix.md covers the
// default matrix).
func TestOracleTableCoversDefaults(t *testing.T) {
	var ks []Kind
	for _, n := range DefaultKinds {
		ks = append(ks, kind(t, n))
	}
	pairs := Pairs(ks)
	if len(pairs) != 27 {
		t.Fatalf("default pairs: got %d, want 27 (5x5 ordered + 2 same-NAT)", len(pairs))
	}
	for _, p := range pairs {
		if !slices.ContainsFunc(oracleTable, func(r struct {
			row, col string
			want     []matrixreport.Path
		}) bool {
			return r.row == p.Row.Name && r.col == p.Col.Name
		}) {
			t.Errorf("no table row for %s", p.Name())
		}
	}
}

// Without WAN delay the one-sided TCP punch is a race: relay is then
// acceptable too.
func TestOracleRaceWithoutDelay(t *testing.T) {
	p := Pair{Row: kind(t, "symmetric"), Col: kind(t, "restricted-cone")}
	if got := Oracle(p.Situation(0)).Paths; !slices.Equal(got, []matrixreport.Path{tcp, relay}) {
		t.Errorf("no delay: got %v, want [tcp-punch relay]", got)
	}
	// Both sides keeping the source: one of the two SYNs always gets in.
	p = Pair{Row: kind(t, "port-restricted-cone"), Col: kind(t, "port-restricted-cone")}
	if got := Oracle(p.Situation(0)).Paths; !slices.Equal(got, []matrixreport.Path{tcp}) {
		t.Errorf("no delay, cones: got %v, want [tcp-punch]", got)
	}
}

// The oracle reads the behaviours, not the preset names: an
// address-dependent mapping sends punches from a port the peer does not
// expect, as a symmetric NAT does.
func TestOracleAxes(t *testing.T) {
	adm := &netlab.NATProfile{Mapping: netlab.AddressDependent, Filtering: netlab.AddressAndPortDependent, Hairpin: true}
	prc := &netlab.NATProfile{Mapping: netlab.EndpointIndependent, Filtering: netlab.AddressAndPortDependent, Hairpin: true}
	s := Situation{Initiator: Side{NAT: adm}, Acceptor: Side{NAT: prc}, WANDelay: 40 * time.Millisecond}
	if got := Oracle(s).Paths; !slices.Equal(got, []matrixreport.Path{relay}) {
		t.Errorf("ADM+APDF -> PRC: got %v, want [relay]", got)
	}
	eif := &netlab.NATProfile{Mapping: netlab.AddressAndPortDependent, Filtering: netlab.EndpointIndependent}
	s = Situation{Initiator: Side{NAT: prc}, Acceptor: Side{NAT: eif}, WANDelay: 40 * time.Millisecond}
	if got := Oracle(s).Paths; !slices.Equal(got, []matrixreport.Path{dir}) {
		t.Errorf("PRC -> APDM+EIF: got %v, want [direct]", got)
	}
}

func TestRecovery(t *testing.T) {
	s := Pair{Row: kind(t, "port-restricted-cone"), Col: kind(t, "port-restricted-cone")}.Situation(20 * time.Millisecond)
	if got := Recovery(s, tcp).Paths; !slices.Equal(got, []matrixreport.Path{dir, tcp}) {
		t.Errorf("after a TCP punch: got %v, want [direct tcp-punch]", got)
	}
	if got := Recovery(s, relay).Paths; !slices.Equal(got, []matrixreport.Path{tcp}) {
		t.Errorf("after relay: got %v, want [tcp-punch]", got)
	}
}

func TestKindByName(t *testing.T) {
	if _, err := KindByName("carrier-grade"); err == nil || !strings.Contains(err.Error(), "unknown kind") {
		t.Errorf("unknown kind: got %v", err)
	}
	k := kind(t, "symmetric-notcp")
	if !k.TCPBlocked || k.NAT == nil || k.NAT.Type != netlab.Symmetric {
		t.Errorf("symmetric-notcp: got %+v", k)
	}
}

// Every pair's lab is a valid netlab topology with the clients where the
// pair says: behind their own NAT, on the WAN, or both behind one.
func TestTopologies(t *testing.T) {
	var ks []Kind
	for _, n := range append(DefaultKinds, "symmetric-notcp") {
		ks = append(ks, kind(t, n))
	}
	for _, p := range Pairs(ks) {
		topo, err := p.Topology(20 * time.Millisecond).Resolve()
		if err != nil {
			t.Fatalf("%s: %v", p.Name(), err)
		}
		nats := 0
		for _, h := range topo.Hosts {
			if h.NAT != nil {
				nats++
			}
		}
		want := 0
		for _, k := range []Kind{p.Row, p.Col} {
			if k.NAT != nil {
				want++
			}
		}
		if p.Row.SameNAT {
			want = 1
		}
		if nats != want {
			t.Errorf("%s: %d NAT routers, want %d", p.Name(), nats, want)
		}
		if p.edge(Initiator) == p.edge(Acceptor) && !p.Row.SameNAT {
			t.Errorf("%s: both clients' WAN edge is %s", p.Name(), p.edge(Initiator))
		}
	}
}
