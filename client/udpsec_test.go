package client_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
)

// TestUDPHostileSource: with a QUIC channel between alice and bob, a
// stranger's socket throws at alice's UDP port garbage, malformed and
// oversized datagrams, a forged Punch, a forged UDPHelloAck and a QUIC
// handshake with ALPN p2plab/1 (docs/protocol.md 9.5, 9.6, 9.8). The QUIC
// handshake is refused, nothing crashes, no channel is made or lost, and
// chat still goes over the QUIC channel both ways.
func TestUDPHostileSource(t *testing.T) {
	srv := startServer(t)
	b := clienttest.New(t, srv.Addr, "bob", punching(protocol.MethodUDPPunch))
	b.C.CloseListenersForTest()
	a := clienttest.New(t, srv.Addr, "alice", punching(protocol.MethodUDPPunch))
	if e := waitEvent(t, a, "alice's channel", opened("bob")); e.Transport != protocol.TransportUDP {
		t.Fatalf("channel_opened %+v: want udp", e)
	}
	target := net.UDPAddrFromAddrPort(a.C.Listen()) // the UDP socket shares the TCP endpoint (9.5)

	stranger, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stranger.Close() })
	datagram := func(f protocol.Frame) []byte {
		d, err := protocol.MarshalDatagram(f)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	junk := [][]byte{
		{},
		{0},
		{1, 2, 3},
		{0, 0, 0, 9, '{', '}'},
		append([]byte{0, 0, 4, 0xb0}, make([]byte, 1200)...),
		[]byte(`{"type":"Punch","body":{"punchID":"x","userID":"bob"}}`),
		datagram(protocol.MustFrame(protocol.TypePunch, protocol.Punch{PunchID: "0123456789abcdef", UserID: "bob"})),
		datagram(protocol.MustFrame(protocol.TypeUDPHelloAck, protocol.UDPHelloAck{Seq: 1, Observed: protocol.Endpoint{IP: "192.0.2.1", Port: 9}})),
		{0xc0, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8}, // a truncated QUIC long header
	}
	for _, d := range junk {
		if _, err := stranger.WriteToUDP(d, target); err != nil {
			t.Fatalf("send %d bytes: %v", len(d), err)
		}
	}

	tr := &quic.Transport{Conn: stranger}
	t.Cleanup(func() { tr.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	tconf := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{protocol.ALPN}, MinVersion: tls.VersionTLS13}
	if qc, err := tr.Dial(ctx, target, tconf, &quic.Config{HandshakeIdleTimeout: 2 * time.Second}); err == nil {
		qc.CloseWithError(0, "")
		t.Fatal("alice completed a QUIC handshake with a source she is not punching with")
	}

	// still one channel each, still over QUIC, still working
	for _, d := range []struct{ from, to *clienttest.Client }{{a, b}, {b, a}} {
		res, err := d.from.API.Chat(tctx(t), d.to.C.UserID(), "still here")
		if err != nil || res.Via != api.ViaP2P {
			t.Fatalf("chat after the stranger: %+v %v", res, err)
		}
		waitEvent(t, d.to, "chat", received(res.MessageID))
	}
	for _, h := range []*clienttest.Client{a, b} {
		evs := events(t, h)
		if n := countEvents(evs, isType(api.EventChannelOpened)); n != 1 {
			t.Errorf("%s: %d channels opened, want 1", h.C.UserID(), n)
		}
		if n := countEvents(evs, isType(api.EventChannelClosed)); n != 0 {
			t.Errorf("%s: %d channels closed, want 0", h.C.UserID(), n)
		}
	}
	if ch, ok := channelTo(t, a, "bob"); !ok || ch.Transport != protocol.TransportUDP || ch.Remote == netip.MustParseAddrPort(stranger.LocalAddr().String()).String() {
		t.Fatalf("alice's channel to bob: %+v", ch)
	}
}
