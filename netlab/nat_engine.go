package netlab

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// natEngine is the translator of one NAT router: its mapping table, its
// filtering decisions and the packet rewrite, as a pure type (no sockets,
// no kernel) that nat_queue.go feeds with packets from NFQUEUE. Linux
// conntrack NAT cannot do endpoint-independent or address-dependent
// filtering, nor address-dependent mapping, so the behaviours of RFC 4787
// (UDP) and RFC 5382 (TCP) are implemented here (docs/netlab.md, "NAT
// routers").
//
// Packets are IPv4 with a TCP or UDP payload; the engine rewrites them in
// place and recomputes the IP and transport checksums in full (a packet
// from a local socket may carry only a partial checksum, and the kernel
// takes a mangled packet's checksum as final). Fragments and other
// protocols are dropped.
type natEngine struct {
	prof   NATProfile
	public netip.Addr // the outside NIC's address
	now    func() time.Time

	mu     sync.Mutex
	rnd    *rand.Rand
	byKey  map[natKey]*natMapping
	byPort map[natPortKey]*natMapping
	stats  NATStats
}

// NATStats counts what a NAT router did.
type NATStats struct {
	// Mappings is how many mappings were made; Expired how many timed out.
	Mappings, Expired uint64
	// Out, In and Hairpin count packets translated in each direction.
	Out, In, Hairpin uint64
	// Filtered counts inbound packets dropped for want of a mapping or by
	// filtering; Dropped counts packets that could not be translated
	// (fragments, no free port, hairpinning off, malformed).
	Filtered, Dropped uint64
}

// TCP mapping lifetimes (RFC 5382 REQ-5): established connections, and
// the transitory state (opening, closing or reset).
const (
	natTCPEstablished = 2*time.Hour + 4*time.Minute
	natTCPTransitory  = 4 * time.Minute
)

// natKey identifies a mapping: protocol, inside endpoint and, as the
// mapping behaviour wants, the remote address or endpoint.
type natKey struct {
	proto  uint8
	inside netip.AddrPort
	remote netip.AddrPort // zero (EIM), address only (ADM) or full (APDM)
}

// natPortKey is a mapping's outside port.
type natPortKey struct {
	proto uint8
	port  uint16
}

// natMapping is one mapping and the remote endpoints it has sent to (its
// filter).
type natMapping struct {
	key      natKey
	also     []natKey // keys of flows that came in through it (bind)
	port     uint16
	lastOut  time.Time // last outbound packet (UDP lifetime)
	lastSeen time.Time // last packet either way (TCP lifetime)
	perms    map[netip.AddrPort]struct{}
	tcpOut   bool // an outbound TCP packet with ACK was seen
	tcpIn    bool // an inbound TCP packet with ACK was seen
	tcpFin   uint8
	tcpReset bool
}

// natVerdict is what to do with a packet.
type natVerdict uint8

const (
	natDrop      natVerdict = iota
	natAccept               // rewritten in place
	natUntouched            // not the NAT's business: let it pass as it is
)

// newNATEngine returns an engine for the outside address public.
func newNATEngine(prof NATProfile, public netip.Addr, now func() time.Time, seed uint64) *natEngine {
	if now == nil {
		now = time.Now
	}
	return &natEngine{
		prof: prof, public: public, now: now,
		rnd:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		byKey:  map[natKey]*natMapping{},
		byPort: map[natPortKey]*natMapping{},
	}
}

// Stats returns the counters.
func (e *natEngine) Stats() NATStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

// pkt is a parsed IPv4 TCP or UDP packet.
type pkt struct {
	b     []byte
	ihl   int
	proto uint8
	src   netip.AddrPort
	dst   netip.AddrPort
	flags uint8 // TCP flags
}

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// parsePkt parses b; ok is false for anything but an unfragmented IPv4
// TCP or UDP packet with a whole transport header.
func parsePkt(b []byte) (pkt, bool) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return pkt{}, false
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || total < ihl || total > len(b) {
		return pkt{}, false
	}
	if binary.BigEndian.Uint16(b[6:])&0x3fff != 0 { // MF or an offset
		return pkt{}, false
	}
	p := pkt{b: b[:total], ihl: ihl, proto: b[9]}
	l4 := p.b[ihl:]
	switch p.proto {
	case 6:
		if len(l4) < 20 || int(l4[12]>>4)*4 < 20 || int(l4[12]>>4)*4 > len(l4) {
			return pkt{}, false
		}
		p.flags = l4[13]
	case 17:
		if len(l4) < 8 {
			return pkt{}, false
		}
	default:
		return pkt{}, false
	}
	src, _ := netip.AddrFromSlice(b[12:16])
	dst, _ := netip.AddrFromSlice(b[16:20])
	p.src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4[0:]))
	p.dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:]))
	return p, true
}

// rewrite sets the packet's endpoints and recomputes its checksums.
func (p *pkt) rewrite(src, dst netip.AddrPort) {
	s, d := src.Addr().As4(), dst.Addr().As4()
	copy(p.b[12:16], s[:])
	copy(p.b[16:20], d[:])
	l4 := p.b[p.ihl:]
	binary.BigEndian.PutUint16(l4[0:], src.Port())
	binary.BigEndian.PutUint16(l4[2:], dst.Port())
	p.src, p.dst = src, dst
	// IP header checksum.
	p.b[10], p.b[11] = 0, 0
	binary.BigEndian.PutUint16(p.b[10:], ^fold(sum(p.b[:p.ihl], 0)))
	// Transport checksum over the pseudo-header and the segment.
	off := 16 // TCP
	if p.proto == 17 {
		off = 6
	}
	l4[off], l4[off+1] = 0, 0
	var ph [12]byte
	copy(ph[0:4], s[:])
	copy(ph[4:8], d[:])
	ph[9] = p.proto
	binary.BigEndian.PutUint16(ph[10:], uint16(len(l4)))
	c := ^fold(sum(l4, sum(ph[:], 0)))
	if c == 0 && p.proto == 17 {
		c = 0xffff // 0 means "no checksum" in UDP
	}
	binary.BigEndian.PutUint16(l4[off:], c)
}

// sum adds b as big-endian 16-bit words to acc (RFC 1071).
func sum(b []byte, acc uint64) uint64 {
	for len(b) >= 8 {
		acc += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	for len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	return acc
}

// fold folds a sum to 16 bits.
func fold(acc uint64) uint16 {
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}

// outbound translates a packet from inside leaving by the outside NIC.
func (e *natEngine) outbound(b []byte) natVerdict {
	p, ok := parsePkt(b)
	if !ok {
		e.count(&e.stats.Dropped)
		return natDrop
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	m := e.mappingFor(p.proto, p.src, p.dst, now)
	if m == nil {
		e.stats.Dropped++
		return natDrop
	}
	e.sent(m, p, now)
	p.rewrite(netip.AddrPortFrom(e.public, m.port), p.dst)
	e.stats.Out++
	return natAccept
}

// inbound translates a packet that arrived on the outside NIC for the
// outside address: to the inside endpoint of its mapping if there is one
// and its filter lets the sender in; otherwise it is dropped, silently
// (RFC 5382 REQ-4: no reset for an unsolicited SYN).
func (e *natEngine) inbound(b []byte) natVerdict {
	p, ok := parsePkt(b)
	if !ok {
		e.count(&e.stats.Dropped)
		return natDrop
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	m := e.live(p.proto, p.dst.Port(), now)
	if m == nil {
		e.stats.Filtered++
		return natDrop
	}
	if !e.allows(m, p.src) {
		e.stats.Filtered++
		return natDrop
	}
	m.lastSeen = now
	if p.proto == 6 {
		e.tcpSeen(m, p.flags, false)
	}
	e.bind(m, p.src)
	p.rewrite(p.src, m.key.inside)
	e.stats.In++
	return natAccept
}

// hairpin translates a packet from inside to the outside address: to the
// inside endpoint of the mapping it names, from the sender's own mapping
// (RFC 4787 REQ-9 and REQ-9a: external source address and port).
// Hairpinned packets come from inside and are not filtered.
func (e *natEngine) hairpin(b []byte) natVerdict {
	p, ok := parsePkt(b)
	if !ok || !e.prof.Hairpin {
		e.count(&e.stats.Dropped)
		return natDrop
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	to := e.live(p.proto, p.dst.Port(), now)
	if to == nil {
		e.stats.Filtered++
		return natDrop
	}
	from := e.mappingFor(p.proto, p.src, p.dst, now)
	if from == nil {
		e.stats.Dropped++
		return natDrop
	}
	e.sent(from, p, now)
	to.lastSeen = now
	src := netip.AddrPortFrom(e.public, from.port)
	e.bind(to, src)
	p.rewrite(src, to.key.inside)
	e.stats.Hairpin++
	return natAccept
}

// live returns the mapping of an outside port if it is alive at now,
// removing it if it has expired.
func (e *natEngine) live(proto uint8, port uint16, now time.Time) *natMapping {
	m := e.byPort[natPortKey{proto, port}]
	if m != nil && e.expired(m, now) {
		e.remove(m)
		return nil
	}
	return m
}

// count adds one to a counter under the lock.
func (e *natEngine) count(c *uint64) {
	e.mu.Lock()
	*c++
	e.mu.Unlock()
}

// remoteKey is the part of the remote endpoint the mapping behaviour keys
// on.
func remoteKey(b NATBehavior, r netip.AddrPort) netip.AddrPort {
	switch b {
	case AddressDependent:
		return netip.AddrPortFrom(r.Addr(), 0)
	case AddressAndPortDependent:
		return r
	}
	return netip.AddrPort{}
}

// mappingFor finds or makes the mapping of inside endpoint in toward
// remote; nil when no outside port is free.
func (e *natEngine) mappingFor(proto uint8, in, remote netip.AddrPort, now time.Time) *natMapping {
	k := natKey{proto: proto, inside: in, remote: remoteKey(e.prof.Mapping, remote)}
	if m := e.byKey[k]; m != nil {
		if !e.expired(m, now) {
			return m
		}
		e.remove(m)
	}
	port, ok := e.pickPort(proto, in.Port(), now)
	if !ok {
		return nil
	}
	m := &natMapping{key: k, port: port, lastOut: now, lastSeen: now, perms: map[netip.AddrPort]struct{}{}}
	e.byKey[k] = m
	e.byPort[natPortKey{proto, port}] = m
	e.stats.Mappings++
	return m
}

// bind makes the inside endpoint's answers to remote go out through m, the
// mapping remote came in by, as a session-tracking NAT does: without it an
// address-dependent mapping would answer an admitted flow (or a hairpinned
// TCP connection) from a new port. Mappings of outbound flows are left
// alone.
func (e *natEngine) bind(m *natMapping, remote netip.AddrPort) {
	k := natKey{proto: m.key.proto, inside: m.key.inside, remote: remoteKey(e.prof.Mapping, remote)}
	if k == m.key {
		return
	}
	if o := e.byKey[k]; o != nil && o != m && !e.expired(o, e.now()) {
		return
	}
	e.byKey[k] = m
	m.also = append(m.also, k)
}

// natPortLo and natPortHi bound the outside ports of random assignment.
const natPortLo, natPortHi = 1024, 65535

// pickPort chooses a free outside port: the inside one when ports are
// preserved and it is free, else a random free one.
func (e *natEngine) pickPort(proto uint8, want uint16, now time.Time) (uint16, bool) {
	free := func(p uint16) bool {
		m := e.byPort[natPortKey{proto, p}]
		if m != nil && e.expired(m, now) {
			e.remove(m)
			m = nil
		}
		return m == nil
	}
	if e.prof.Ports == PortsPreserve && want != 0 && free(want) {
		return want, true
	}
	n := natPortHi - natPortLo + 1
	start := e.rnd.IntN(n)
	for i := range n {
		p := uint16(natPortLo + (start+i)%n)
		if (e.prof.Ports != PortsRandom || p != want) && free(p) {
			return p, true
		}
	}
	return 0, false
}

// sent records an outbound packet on m: it refreshes the mapping and opens
// its filter to the packet's destination.
func (e *natEngine) sent(m *natMapping, p pkt, now time.Time) {
	m.lastOut, m.lastSeen = now, now
	m.perms[p.dst] = struct{}{}
	if p.proto == 6 {
		e.tcpSeen(m, p.flags, true)
	}
}

// tcpSeen follows a TCP mapping between transitory and established.
func (e *natEngine) tcpSeen(m *natMapping, flags uint8, out bool) {
	switch {
	case flags&tcpRST != 0:
		m.tcpReset = true
	case flags&tcpSYN != 0:
		m.tcpReset, m.tcpFin = false, 0
	case flags&tcpFIN != 0:
		if out {
			m.tcpFin |= 1
		} else {
			m.tcpFin |= 2
		}
	}
	if flags&tcpACK != 0 {
		if out {
			m.tcpOut = true
		} else {
			m.tcpIn = true
		}
	}
}

// allows reports whether m's filter lets a packet from src in.
func (e *natEngine) allows(m *natMapping, src netip.AddrPort) bool {
	switch e.prof.Filtering {
	case EndpointIndependent:
		return true
	case AddressDependent:
		for r := range m.perms {
			if r.Addr() == src.Addr() {
				return true
			}
		}
		return false
	}
	_, ok := m.perms[src]
	return ok
}

// expired reports whether m has outlived its lifetime at now: for UDP the
// configured timeout since the last outbound packet (RFC 4787 REQ-6:
// inbound packets do not refresh), for TCP the RFC 5382 idle times.
func (e *natEngine) expired(m *natMapping, now time.Time) bool {
	if m.key.proto == 17 {
		return now.Sub(m.lastOut) >= e.prof.Timeout
	}
	life := natTCPTransitory
	if m.tcpOut && m.tcpIn && !m.tcpReset && m.tcpFin != 3 {
		life = natTCPEstablished
	}
	return now.Sub(m.lastSeen) >= life
}

// remove deletes a mapping from both indexes.
func (e *natEngine) remove(m *natMapping) {
	for _, k := range append(m.also, m.key) {
		if e.byKey[k] == m {
			delete(e.byKey, k)
		}
	}
	pk := natPortKey{m.key.proto, m.port}
	if e.byPort[pk] == m {
		delete(e.byPort, pk)
	}
	e.stats.Expired++
}

// sweep removes every expired mapping (the lookups expire lazily; this
// bounds the table).
func (e *natEngine) sweep() {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	for _, m := range e.byPort {
		if e.expired(m, now) {
			e.remove(m)
		}
	}
}

// mappings is how many mappings are alive (for tests).
func (e *natEngine) mappings() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.byPort)
}
