package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
)

// punching enables the ladder's punching steps with the given methods.
func punching(methods ...string) clienttest.Option {
	return clienttest.WithConfig(func(c *client.Config) {
		c.Punch = true
		c.Methods = methods
	})
}

// TestUDPPunchQUIC: bob refuses TCP (its listener is closed), so alice's
// plain dial fails; the coordinated punch through the server makes a QUIC
// channel over the punched UDP socket (loopback). Chat, acks and files
// then work over it as over TCP, and the log tells the story.
func TestUDPPunchQUIC(t *testing.T) {
	srv := startServer(t)
	b := clienttest.New(t, srv.Addr, "bob", punching(protocol.MethodUDPPunch))
	b.C.CloseListenersForTest()
	start := time.Now()
	a := clienttest.New(t, srv.Addr, "alice", punching(protocol.MethodUDPPunch))
	ea := waitEvent(t, a, "alice's channel", opened("bob"))
	took := time.Since(start)
	eb := waitEvent(t, b, "bob's channel", opened("alice"))
	for _, e := range []api.Event{ea, eb} {
		if e.Transport != protocol.TransportUDP || e.Method != protocol.MethodUDPPunch || e.Initiator != "alice" {
			t.Fatalf("channel_opened %+v: want udp, udp-punch, initiated by alice", e)
		}
	}
	t.Logf("plain dial failed, punched and opened a QUIC channel in %v", took)
	if took > 5*time.Second {
		t.Errorf("ladder took %v, want under 5s", took)
	}
	ch, ok := channelTo(t, a, "bob")
	if !ok || ch.Transport != "udp" {
		t.Fatalf("GET /v1/channels: %+v", ch)
	}
	if one, err := a.API.Channel(tctx(t), "bob"); err != nil || one.Transport != "udp" || one.Method != protocol.MethodUDPPunch {
		t.Fatalf("GET /v1/channels/bob: %+v %v", one, err)
	}
	for _, d := range []struct{ from, to *clienttest.Client }{{a, b}, {b, a}} {
		res, err := d.from.API.Chat(tctx(t), d.to.C.UserID(), "over quic")
		if err != nil || res.Via != api.ViaP2P {
			t.Fatalf("chat %+v %v", res, err)
		}
		waitEvent(t, d.to, "chat", received(res.MessageID))
		waitEvent(t, d.from, "ack", acked(res.MessageID))
	}
	path, data := writeRandom(t, t.TempDir(), "q.bin", 3*protocol.MaxChunkData+5)
	fr, err := a.API.SendFile(tctx(t), "bob", path)
	if err != nil || fr.Via != api.ViaP2P {
		t.Fatalf("file %+v %v", fr, err)
	}
	e := waitEvent(t, b, "file", func(e api.Event) bool { return e.TransferID == fr.TransferID && e.Type == api.EventFileReceived })
	got, _ := os.ReadFile(filepath.Clean(e.Path))
	if !bytes.Equal(got, data) {
		t.Fatal("file over QUIC differs")
	}
	log := p2pLog(t, a)
	for _, k := range []string{protocol.LogTry, protocol.LogTryFailed, protocol.LogPunched, protocol.LogCreated} {
		if countLog(log, k, "bob") == 0 {
			t.Errorf("alice's log has no %s line:\n%s", k, logText(t, a))
		}
	}
	// heartbeats keep it; a cut channel falls back to the relay
	if !a.C.KillChannelForTest("bob") {
		t.Fatal("no channel to kill")
	}
	waitEvent(t, b, "bob sees the QUIC channel go", isType(api.EventChannelClosed))
	res, err := a.API.Chat(tctx(t), "bob", "after the cut")
	if err != nil || res.Via != api.ViaRelay {
		t.Fatalf("chat after the cut %+v %v", res, err)
	}
	waitEvent(t, b, "relayed chat", received(res.MessageID))
	if one, err := a.API.Channel(tctx(t), "bob"); err != nil || one.Transport != api.TransportNone {
		t.Fatalf("GET /v1/channels/bob after the cut: %+v %v", one, err)
	}
}

// TestTCPPunch: with only tcp-punch, bob's refused listener makes alice
// punch over TCP: both dial each other from their shared endpoints.
func TestTCPPunch(t *testing.T) {
	srv := startServer(t)
	b := clienttest.New(t, srv.Addr, "bob", punching(protocol.MethodTCPPunch))
	b.C.CloseListenersForTest()
	a := clienttest.New(t, srv.Addr, "alice", punching(protocol.MethodTCPPunch))
	e := waitEvent(t, a, "alice's channel", opened("bob"))
	if e.Transport != protocol.TransportTCP || e.Method != protocol.MethodTCPPunch {
		t.Fatalf("channel_opened %+v: want tcp, tcp-punch", e)
	}
	res, err := a.API.Chat(tctx(t), "bob", "punched tcp")
	if err != nil || res.Via != api.ViaP2P {
		t.Fatalf("chat %+v %v", res, err)
	}
	waitEvent(t, b, "chat", received(res.MessageID))
}

// TestPunchNeedsBothSides: a peer without punching gets no Punch frame and
// the pair stays on the relay, within the ladder's bound.
func TestPunchNeedsBothSides(t *testing.T) {
	srv := startServer(t)
	b := clienttest.New(t, srv.Addr, "bob")
	b.C.CloseListenersForTest()
	a := clienttest.New(t, srv.Addr, "alice", punching(protocol.MethodTCPPunch, protocol.MethodUDPPunch))
	eventually(t, "alice's dial failed", func() bool { return countLog(p2pLog(t, a), protocol.LogCreateFailed, "bob") > 0 })
	res, err := a.API.Chat(tctx(t), "bob", "by relay")
	if err != nil || res.Via != api.ViaRelay {
		t.Fatalf("chat %+v %v", res, err)
	}
	waitEvent(t, b, "chat", received(res.MessageID))
	if st, _ := srv.Admin.Stats(tctx(t)); st.Totals.PunchRelayed != 0 {
		t.Fatalf("punch frames relayed to a peer that does not punch: %+v", st.Totals)
	}
}

// TestUnexpectedUDPDropped: QUIC from a source no punch expects is refused
// in its handshake, and junk or stray punch datagrams on the punching
// socket change nothing; the client still makes its QUIC channel after.
func TestUnexpectedUDPDropped(t *testing.T) {
	srv := startServer(t)
	b := clienttest.New(t, srv.Addr, "bob", punching(protocol.MethodUDPPunch))
	b.C.CloseListenersForTest()
	udpEP := b.C.Listen() // the UDP socket has the TCP endpoint's port number
	ctx, cancel := context.WithTimeout(tctx(t), 3*time.Second)
	defer cancel()
	qc, err := quic.DialAddr(ctx, udpEP.String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{protocol.ALPN}}, nil)
	if err == nil {
		qc.CloseWithError(0, "")
		t.Fatal("a QUIC handshake from an unexpected source succeeded")
	}
	uc, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(udpEP))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	stray, _ := protocol.MarshalDatagram(protocol.MustFrame(protocol.TypePunch, protocol.Punch{PunchID: "x", UserID: "alice"}))
	for _, d := range [][]byte{{0}, {0, 0, 0, 0}, {0, 0, 0, 200, '{'}, stray, bytes.Repeat([]byte{0x40}, 1300)} {
		if _, err := uc.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	a := clienttest.New(t, srv.Addr, "alice", punching(protocol.MethodUDPPunch))
	if e := waitEvent(t, a, "alice's channel", opened("bob")); e.Transport != protocol.TransportUDP {
		t.Fatalf("channel_opened %+v: want a QUIC channel still", e)
	}
}

// TestHelloKeepalive: after the first ack, hellos repeat at the keepalive
// pace (docs/protocol.md 9.5), neither stopping nor flooding the server.
func TestHelloKeepalive(t *testing.T) {
	srv := startServer(t)
	clienttest.New(t, srv.Addr, "alice", punching(protocol.MethodUDPPunch),
		clienttest.WithConfig(func(c *client.Config) { c.KeepAlive = 100 * time.Millisecond }))
	eventually(t, "the first hello answered", func() bool {
		st, _ := srv.Admin.Stats(tctx(t))
		return st.Totals.UDPHellos >= 1
	})
	first := time.Now()
	st0, _ := srv.Admin.Stats(tctx(t))
	eventually(t, "keepalive hellos", func() bool {
		st, _ := srv.Admin.Stats(tctx(t))
		return st.Totals.UDPHellos >= st0.Totals.UDPHellos+5
	})
	st, _ := srv.Admin.Stats(tctx(t))
	el := time.Since(first)
	if max := int64(el/(100*time.Millisecond)) + 3; st.Totals.UDPHellos-st0.Totals.UDPHellos > max {
		t.Fatalf("%d hellos in %v, want at most %d at a 100ms keepalive", st.Totals.UDPHellos-st0.Totals.UDPHellos, el, max)
	}
	if st.Totals.UDPHellosRejected != 0 {
		t.Fatalf("%d hellos rejected", st.Totals.UDPHellosRejected)
	}
}

// TestLANFirst: a peer behind the same public address whose own (local)
// endpoint differs from the advertised one is dialled there first (ladder
// step lan, docs/protocol.md 9.7); the initiator tells the method in its
// SetupP2PMessage.
func TestLANFirst(t *testing.T) {
	srv := startServer(t)
	lc := net.ListenConfig{}
	ln, err := lc.Listen(tctx(t), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pub, priv, _ := ed25519.GenerateKey(nil)
	local := protocol.EndpointOf(ln.Addr().(*net.TCPAddr).AddrPort())
	z := &rawUser11{rawUser: newRawUserLogin(t, srv.Addr, protocol.Login{UserID: "zed", Features: []string{protocol.FeatureID},
		Key: protocol.EncodeKey(pub), Local: &local}, false), priv: priv}
	a := clienttest.New(t, srv.Addr, "alice")
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(waitTimeout))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("alice did not dial zed's local endpoint: %v\n%s", err, logText(t, a))
	}
	rc := newRawChan(t, conn)
	first, ok := z.acceptHandshake(rc, "alice", z.keyOf("alice"))
	if !ok || first.Method != protocol.MethodLAN {
		t.Fatalf("handshake ok=%v, first SetupP2PMessage %+v: want a proof and method lan", ok, first)
	}
	if e := waitEvent(t, a, "alice's channel", opened("zed")); e.Method != protocol.MethodLAN {
		t.Fatalf("channel_opened %+v: want method lan", e)
	}
	if countLog(p2pLog(t, a), protocol.LogTry, "zed") != 1 {
		t.Errorf("want one try line (lan):\n%s", logText(t, a))
	}
}
