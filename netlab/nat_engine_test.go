package netlab

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// build makes an IPv4 packet with correct checksums (by gopacket, so the
// engine's checksums are checked against another implementation).
func build(t testing.TB, proto uint8, src, dst netip.AddrPort, flags uint8, payload string) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice()), Flags: layers.IPv4DontFragment}
	var l4 gopacket.SerializableLayer
	switch proto {
	case 17:
		ip.Protocol = layers.IPProtocolUDP
		u := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
		_ = u.SetNetworkLayerForChecksum(ip)
		l4 = u
	default:
		ip.Protocol = layers.IPProtocolTCP
		c := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Window: 1000, Seq: 7,
			SYN: flags&tcpSYN != 0, ACK: flags&tcpACK != 0, FIN: flags&tcpFIN != 0, RST: flags&tcpRST != 0}
		_ = c.SetNetworkLayerForChecksum(ip)
		l4 = c
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ip, l4, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkSums verifies b's IP and transport checksums and returns its
// endpoints.
func checkSums(t *testing.T, b []byte) (src, dst netip.AddrPort) {
	t.Helper()
	p, ok := parsePkt(b)
	if !ok {
		t.Fatalf("rewritten packet does not parse")
	}
	if c := fold(sum(b[:p.ihl], 0)); c != 0xffff {
		t.Errorf("IP checksum wrong (sum %#x)", c)
	}
	want := append([]byte(nil), b...)
	re := gopacket.NewPacket(want, layers.LayerTypeIPv4, gopacket.Default)
	ip := re.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	var got, exp uint16
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{ComputeChecksums: true}
	switch l := re.TransportLayer().(type) {
	case *layers.UDP:
		got = l.Checksum
		_ = l.SetNetworkLayerForChecksum(ip)
		_ = gopacket.SerializeLayers(buf, opts, l, gopacket.Payload(l.Payload))
		exp = l.Checksum
	case *layers.TCP:
		got = l.Checksum
		_ = l.SetNetworkLayerForChecksum(ip)
		_ = gopacket.SerializeLayers(buf, opts, l, gopacket.Payload(l.Payload))
		exp = l.Checksum
	}
	if got != exp {
		t.Errorf("transport checksum %#x, want %#x", got, exp)
	}
	return p.src, p.dst
}

var (
	natPub   = netip.MustParseAddr("198.18.0.2")
	natIn1   = netip.MustParseAddrPort("198.18.1.2:4000")
	natIn2   = netip.MustParseAddrPort("198.18.1.3:4000")
	natProbe = [4]netip.AddrPort{
		netip.MustParseAddrPort("198.18.0.10:3478"), // A1:P1
		netip.MustParseAddrPort("198.18.0.10:3479"), // A1:P2
		netip.MustParseAddrPort("198.18.0.11:3478"), // A2:P1
		netip.MustParseAddrPort("198.18.0.11:3479"), // A2:P2
	}
)

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestNATEngineClassifies(t *testing.T) {
	type want struct {
		sameTo  [4]bool // outside endpoint toward probe i equals the one toward probe 0
		allowed [4]bool // after sending to probe 0 only, probe i gets in
	}
	eim := [4]bool{true, true, true, true}
	adm := [4]bool{true, true, false, false}
	apdm := [4]bool{true, false, false, false}
	cases := []struct {
		name string
		spec NATSpec
		want want
	}{
		{"full-cone", NATSpec{Type: FullCone}, want{eim, [4]bool{true, true, true, true}}},
		{"restricted-cone", NATSpec{Type: RestrictedCone}, want{eim, [4]bool{true, true, false, false}}},
		{"port-restricted-cone", NATSpec{Type: PortRestrictedCone}, want{eim, [4]bool{true, false, false, false}}},
		{"symmetric", NATSpec{Type: Symmetric}, want{apdm, [4]bool{true, false, false, false}}},
		{"ADM+EIF", NATSpec{Mapping: AddressDependent, Filtering: EndpointIndependent}, want{adm, [4]bool{true, true, true, true}}},
		{"APDM+ADF", NATSpec{Mapping: AddressAndPortDependent, Filtering: AddressDependent}, want{apdm, [4]bool{true, true, false, false}}},
	}
	for _, c := range cases {
		for _, proto := range []uint8{17, 6} {
			t.Run(c.name+map[uint8]string{6: "/tcp", 17: "/udp"}[proto], func(t *testing.T) {
				prof, err := c.spec.Profile()
				if err != nil {
					t.Fatal(err)
				}
				e := newNATEngine(prof, natPub, nil, 1)
				var outs [4]netip.AddrPort
				for i, r := range natProbe {
					b := build(t, proto, natIn1, r, tcpSYN, "hi")
					if v := e.outbound(b); v != natAccept {
						t.Fatalf("outbound to %s: verdict %d", r, v)
					}
					src, dst := checkSums(t, b)
					if src.Addr() != natPub || dst != r {
						t.Fatalf("outbound rewritten to %s -> %s", src, dst)
					}
					outs[i] = src
				}
				for i := range outs {
					if got := outs[i] == outs[0]; got != c.want.sameTo[i] {
						t.Errorf("mapping toward %s is %s, toward %s %s: same=%t, want %t", natProbe[i], outs[i], natProbe[0], outs[0], got, c.want.sameTo[i])
					}
				}
				if outs[0].Port() != natIn1.Port() {
					t.Errorf("port %d not preserved (inside %d)", outs[0].Port(), natIn1.Port())
				}
				// Filtering: a fresh inside endpoint sends to probe 0 only.
				in := netip.AddrPortFrom(natIn1.Addr(), 5000)
				b := build(t, proto, in, natProbe[0], tcpSYN, "x")
				e.outbound(b)
				mapped, _ := checkSums(t, b)
				for i, r := range natProbe {
					b := build(t, proto, r, mapped, tcpSYN|tcpACK, "back")
					v := e.inbound(b)
					if got := v == natAccept; got != c.want.allowed[i] {
						t.Errorf("inbound from %s: let in=%t, want %t", r, got, c.want.allowed[i])
					}
					if v == natAccept {
						src, dst := checkSums(t, b)
						if src != r || dst != in {
							t.Errorf("inbound rewritten to %s -> %s, want %s -> %s", src, dst, r, in)
						}
					}
				}
			})
		}
	}
}

func TestNATEngineUnsolicited(t *testing.T) {
	prof, _ := NATSpec{Type: FullCone}.Profile()
	e := newNATEngine(prof, natPub, nil, 1)
	for _, proto := range []uint8{6, 17} {
		if v := e.inbound(build(t, proto, natProbe[0], netip.AddrPortFrom(natPub, 4000), tcpSYN, "")); v != natDrop {
			t.Errorf("proto %d: unsolicited inbound: verdict %d, want drop", proto, v)
		}
	}
	if s := e.Stats(); s.Filtered != 2 {
		t.Errorf("stats %+v, want 2 filtered", s)
	}
}

func TestNATEnginePorts(t *testing.T) {
	for _, ports := range []NATPorts{PortsPreserve, PortsRandom} {
		prof, _ := NATSpec{Ports: ports}.Profile()
		e := newNATEngine(prof, natPub, nil, 1)
		b1 := build(t, 17, natIn1, natProbe[0], 0, "")
		b2 := build(t, 17, natIn2, natProbe[0], 0, "") // same inside port, other host
		e.outbound(b1)
		e.outbound(b2)
		s1, _ := checkSums(t, b1)
		s2, _ := checkSums(t, b2)
		if s1 == s2 {
			t.Errorf("%s: two inside hosts share outside endpoint %s", ports, s1)
		}
		if got := s1.Port() == natIn1.Port(); got != (ports == PortsPreserve) {
			t.Errorf("%s: first mapping port %d (inside %d)", ports, s1.Port(), natIn1.Port())
		}
		if s2.Port() == natIn2.Port() {
			t.Errorf("%s: second host got the taken port %d", ports, s2.Port())
		}
	}
}

func TestNATEngineTimeout(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	prof, _ := NATSpec{Type: FullCone, Ports: PortsRandom, Timeout: 30 * time.Second}.Profile()
	e := newNATEngine(prof, natPub, clk.now, 1)
	send := func() netip.AddrPort {
		b := build(t, 17, natIn1, natProbe[0], 0, "")
		if e.outbound(b) != natAccept {
			t.Fatal("outbound dropped")
		}
		s, _ := checkSums(t, b)
		return s
	}
	in := func(to netip.AddrPort) bool {
		return e.inbound(build(t, 17, natProbe[1], to, 0, "")) == natAccept
	}
	m := send()
	clk.t = clk.t.Add(29 * time.Second)
	if !in(m) {
		t.Fatal("mapping gone before its timeout")
	}
	clk.t = clk.t.Add(29 * time.Second) // inbound did not refresh: 58s idle
	if in(m) {
		t.Fatal("mapping alive past its timeout (inbound must not refresh it)")
	}
	m2 := send()
	for range 5 { // outbound every 20s keeps it
		clk.t = clk.t.Add(20 * time.Second)
		if got := send(); got != m2 {
			t.Fatalf("refreshed mapping moved from %s to %s", m2, got)
		}
	}
	if !in(m2) {
		t.Fatal("refreshed mapping gone")
	}
	clk.t = clk.t.Add(31 * time.Second)
	e.sweep()
	if n := e.mappings(); n != 0 {
		t.Errorf("%d mappings after sweep, want 0", n)
	}
}

func TestNATEngineHairpin(t *testing.T) {
	for _, on := range []bool{true, false} {
		prof, _ := NATSpec{Type: PortRestrictedCone, Hairpin: &on}.Profile()
		e := newNATEngine(prof, natPub, nil, 1)
		b1 := build(t, 17, natIn1, natProbe[0], 0, "")
		b2 := build(t, 17, netip.AddrPortFrom(natIn2.Addr(), 4001), natProbe[0], 0, "")
		e.outbound(b1)
		e.outbound(b2)
		x2, _ := checkSums(t, b2)
		h := build(t, 17, natIn1, x2, 0, "hairpin")
		v := e.hairpin(h)
		if got := v == natAccept; got != on {
			t.Fatalf("hairpin=%t: verdict %d", on, v)
		}
		if !on {
			continue
		}
		src, dst := checkSums(t, h)
		if src.Addr() != natPub || dst != netip.AddrPortFrom(natIn2.Addr(), 4001) {
			t.Errorf("hairpinned to %s -> %s", src, dst)
		}
		// The answer goes back the same way.
		r := build(t, 17, dst, src, 0, "answer")
		if e.hairpin(r) != natAccept {
			t.Fatal("hairpin answer dropped")
		}
		if s, d := checkSums(t, r); s != x2 || d != natIn1 {
			t.Errorf("answer %s -> %s, want %s -> %s", s, d, x2, natIn1)
		}
	}
}

func TestNATEngineMalformed(t *testing.T) {
	prof, _ := NATSpec{}.Profile()
	e := newNATEngine(prof, natPub, nil, 1)
	frag := build(t, 17, natIn1, natProbe[0], 0, "x")
	frag[6] |= 0x20 // MF
	for name, b := range map[string][]byte{"empty": nil, "short": {0x45, 0}, "fragment": frag, "icmp": func() []byte {
		b := build(t, 17, natIn1, natProbe[0], 0, "")
		b[9] = 1
		return b
	}()} {
		if v := e.outbound(b); v != natDrop {
			t.Errorf("%s: verdict %d, want drop", name, v)
		}
	}
}

// BenchmarkNATNewMapping is the NAT's new-mapping rate: every packet comes
// from a new inside endpoint, so each makes a mapping (the table is
// swept when full so that ports do not run out).
func BenchmarkNATNewMapping(b *testing.B) {
	prof, _ := NATSpec{Type: Symmetric, Ports: PortsRandom}.Profile()
	e := newNATEngine(prof, natPub, nil, 1)
	pkts := make([][]byte, 4096)
	for i := range pkts {
		pkts[i] = build(b, 17, netip.AddrPortFrom(natIn1.Addr(), uint16(10000+i)), natProbe[0], 0, "0123456789abcdef")
	}
	work := make([]byte, 1500)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%4096 == 0 {
			e.mu.Lock()
			clear(e.byKey)
			clear(e.byPort)
			e.mu.Unlock()
		}
		p := pkts[i%len(pkts)]
		w := work[:len(p)]
		copy(w, p)
		if e.outbound(w) != natAccept {
			b.Fatal("dropped")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "mappings/s")
}
