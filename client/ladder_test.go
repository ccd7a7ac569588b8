package client_test

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
)

// TestLadderBoundedChatStaysOnRelay: bob is a v1.1 peer that advertises
// punch and quic but refuses TCP and never answers a PunchConnect. Alice's
// ladder (docs/protocol.md 9.7) logs and reports every attempt (direct,
// tcp-punch, udp-punch), ends within its configured bound, and a chat sent
// while it runs goes by relay and arrives; no channel is left behind, and
// POST /v1/connect runs the ladder again within the same bound.
func TestLadderBoundedChatStaysOnRelay(t *testing.T) {
	const bound = 1500 * time.Millisecond
	srv := startServer(t)
	pub, _, _ := ed25519.GenerateKey(nil)
	bob := newRawUserLogin(t, srv.Addr, protocol.Login{UserID: "bob",
		Features: []string{protocol.FeatureID, protocol.FeaturePunch, protocol.FeatureQUIC},
		Key:      protocol.EncodeKey(pub)}, false)
	a := clienttest.New(t, srv.Addr, "alice", punching(protocol.MethodTCPPunch, protocol.MethodUDPPunch),
		clienttest.WithConfig(func(c *client.Config) { c.Ladder = bound }))

	bob.expectServer(protocol.TypePunchConnect, nil) // the ladder is in its punch phase
	res, err := a.API.Chat(tctx(t), "bob", "while the ladder runs")
	if err != nil || res.Via != api.ViaRelay {
		t.Fatalf("chat during the ladder: %+v %v, want via relay", res, err)
	}
	bob.expectServer(protocol.TypeChatMessage, func(f protocol.Frame) bool {
		var m protocol.Chat
		return json.Unmarshal(f.Body, &m) == nil && m.MessageID == res.MessageID
	})

	var first time.Time
	for _, m := range []string{protocol.MethodDirect, protocol.MethodTCPPunch, protocol.MethodUDPPunch} {
		try := waitEvent(t, a, "try "+m, func(e api.Event) bool { return e.Type == api.EventTry && e.Peer == "bob" && e.Method == m })
		if first.IsZero() {
			first = try.Time
		}
		failed := waitEvent(t, a, "try_failed "+m, func(e api.Event) bool {
			return e.Type == api.EventTryFailed && e.Peer == "bob" && e.Method == m
		})
		if m != protocol.MethodDirect && failed.Reason != "no answer" {
			t.Errorf("try_failed %s: reason %q, want %q", m, failed.Reason, "no answer")
		}
		if took := failed.Time.Sub(first); took > bound+500*time.Millisecond {
			t.Errorf("%s failed %v after the ladder started, bound %v", m, took, bound)
		}
	}
	log := p2pLog(t, a)
	for _, k := range []string{protocol.LogTry, protocol.LogTryFailed} {
		if n := countLog(log, k, "bob"); n != 3 {
			t.Errorf("%d %s lines for bob, want 3:\n%s", n, k, logText(t, a))
		}
	}
	if n := countEvents(events(t, a), isType(api.EventChannelOpened)); n != 0 {
		t.Fatalf("%d channels opened to a peer that never answered", n)
	}
	if one, err := a.API.Channel(tctx(t), "bob"); err != nil || one.Transport != api.TransportNone {
		t.Fatalf("GET /v1/channels/bob: %+v %v, want transport none", one, err)
	}

	// on demand: the same ladder, the same bound, a clear failure
	start := time.Now()
	_, err = a.API.Connect(tctx(t), "bob")
	took := time.Since(start)
	var ae *api.StatusError
	if !errors.As(err, &ae) || ae.Status != 502 {
		t.Fatalf("POST /v1/connect to a peer that never answers: %v, want 502", err)
	}
	if took > bound+time.Second {
		t.Errorf("POST /v1/connect took %v, bound %v", took, bound)
	}
	bob.expectServer(protocol.TypePunchConnect, nil)
}

// blackhole listens at ep (port 0: any) with a full accept queue, so the
// kernel drops every further SYN to it: a dial there hangs as behind a
// filtering NAT or firewall, on loopback. It returns the endpoint.
func blackhole(t *testing.T, ep netip.AddrPort) netip.AddrPort {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	for _, o := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, o, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: ep.Addr().As4(), Port: int(ep.Port())}); err != nil {
		t.Fatalf("blackhole: bind %v: %v", ep, err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	at := netip.AddrPortFrom(ep.Addr(), uint16(sa.(*unix.SockaddrInet4).Port))
	// one connection fills the queue of a backlog-0 listener; the next
	// dial must then hang
	filler, err := net.DialTimeout("tcp", at.String(), time.Second)
	if err != nil {
		t.Fatalf("blackhole: fill: %v", err)
	}
	t.Cleanup(func() { filler.Close() })
	if c, err := net.DialTimeout("tcp", at.String(), 300*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("blackhole: a dial got through the full queue")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("blackhole: probe dial: %v, want a timeout", err)
	}
	return at
}

// TestLadderStaggeredPunch: bob's advertised endpoint drops SYNs (as
// behind a filtering NAT). The punch's PunchConnect must leave one stagger
// after the direct dial started (docs/protocol.md 9.7: at most 1 s), not
// after that dial timed out (40% of the ladder before the stagger).
func TestLadderStaggeredPunch(t *testing.T) {
	srv := startServer(t)
	pub, _, _ := ed25519.GenerateKey(nil)
	bob := newRawUserLogin(t, srv.Addr, protocol.Login{UserID: "bob",
		Features: []string{protocol.FeatureID, protocol.FeaturePunch, protocol.FeatureQUIC},
		Key:      protocol.EncodeKey(pub)}, true)
	bob.ln.Close() // listening there proved no other socket holds the port
	blackhole(t, bob.ep)
	a := clienttest.New(t, srv.Addr, "alice", punching(protocol.MethodTCPPunch, protocol.MethodUDPPunch))
	try := waitEvent(t, a, "try direct", func(e api.Event) bool {
		return e.Type == api.EventTry && e.Peer == "bob" && e.Method == protocol.MethodDirect
	})
	bob.expectServer(protocol.TypePunchConnect, nil)
	if took := time.Since(try.Time); took > time.Second {
		t.Errorf("PunchConnect %v after the direct dial started, want at most the stagger cap (1s):\n%s", took, logText(t, a))
	}
	// bob never answers: every attempt still ends, by its bound
	failed := waitEvent(t, a, "try_failed direct", func(e api.Event) bool {
		return e.Type == api.EventTryFailed && e.Peer == "bob" && e.Method == protocol.MethodDirect
	})
	if failed.Reason != "timeout" {
		t.Errorf("direct failed with %q, want timeout", failed.Reason)
	}
}

// TestLadderCancelsLoser: zed's local endpoint drops SYNs while its
// advertised one answers. The direct dial starts one stagger after the lan
// dial and makes the channel; the lan attempt is cancelled and logged so
// (docs/protocol.md 7.2, 9.7), and nothing else opens.
func TestLadderCancelsLoser(t *testing.T) {
	srv := startServer(t)
	local := protocol.EndpointOf(blackhole(t, netip.MustParseAddrPort("127.0.0.1:0")))
	pub, priv, _ := ed25519.GenerateKey(nil)
	z := &rawUser11{rawUser: newRawUserLogin(t, srv.Addr, protocol.Login{UserID: "zed", Features: []string{protocol.FeatureID},
		Key: protocol.EncodeKey(pub), Local: &local}, true), priv: priv}
	a := clienttest.New(t, srv.Addr, "alice", punching(protocol.MethodTCPPunch)) // zed does not punch

	rc := z.accept()
	if first, ok := z.acceptHandshake(rc, "alice", z.keyOf("alice")); !ok || first.Method != protocol.MethodDirect {
		t.Fatalf("handshake ok=%v, first SetupP2PMessage %+v: want method direct", ok, first)
	}
	opened := waitEvent(t, a, "alice's channel", opened("zed"))
	try := waitEvent(t, a, "try lan", func(e api.Event) bool {
		return e.Type == api.EventTry && e.Peer == "zed" && e.Method == protocol.MethodLAN
	})
	if opened.Method != protocol.MethodDirect {
		t.Fatalf("channel_opened %+v: want method direct", opened)
	}
	if took := opened.Time.Sub(try.Time); took > 1500*time.Millisecond {
		t.Errorf("direct channel %v after the lan dial started, want about one stagger", took)
	}
	lan := waitEvent(t, a, "try_failed lan", func(e api.Event) bool {
		return e.Type == api.EventTryFailed && e.Peer == "zed" && e.Method == protocol.MethodLAN
	})
	if lan.Reason != "cancelled" {
		t.Errorf("lan failed with %q, want cancelled", lan.Reason)
	}
	text := logText(t, a)
	for _, want := range []string{"try lan zed:", "try failed lan zed:", ": cancelled", "create failed zed:", "try direct zed:", "created zed:"} {
		if !strings.Contains(text, want) {
			t.Errorf("log lacks %q:\n%s", want, text)
		}
	}
	if countLog(p2pLog(t, a), protocol.LogTryFailed, "zed") != 1 {
		t.Errorf("want one try failed line (lan):\n%s", text)
	}
}

// TestLadderSupersededDirect: bob's endpoint drops unsolicited SYNs (its
// listener is gone, a full queue in its place), as behind a filtering NAT.
// The punch starts one stagger after the direct dial; before its PunchSync
// it ends that dial ("superseded": the tcp-punch needs the same 4-tuple,
// docs/protocol.md 9.7), and the TCP simultaneous open makes the channel
// well before the direct dial would have timed out.
func TestLadderSupersededDirect(t *testing.T) {
	srv := startServer(t)
	b := clienttest.New(t, srv.Addr, "bob", punching(protocol.MethodTCPPunch))
	b.C.CloseListenersForTest()
	blackhole(t, b.C.Listen())
	a := clienttest.New(t, srv.Addr, "alice", punching(protocol.MethodTCPPunch))
	opened := waitEvent(t, a, "alice's channel", opened("bob"))
	if opened.Method != protocol.MethodTCPPunch {
		t.Fatalf("channel_opened %+v: want tcp-punch", opened)
	}
	try := waitEvent(t, a, "try direct", func(e api.Event) bool {
		return e.Type == api.EventTry && e.Peer == "bob" && e.Method == protocol.MethodDirect
	})
	failed := waitEvent(t, a, "try_failed direct", func(e api.Event) bool {
		return e.Type == api.EventTryFailed && e.Peer == "bob" && e.Method == protocol.MethodDirect
	})
	if failed.Reason != "superseded" {
		t.Errorf("direct failed with %q, want superseded:\n%s", failed.Reason, logText(t, a))
	}
	if took := opened.Time.Sub(try.Time); took > 1500*time.Millisecond {
		t.Errorf("tcp-punch channel %v after the direct dial started, want well under the 2s the dial had alone", took)
	}
	res, err := a.API.Chat(tctx(t), "bob", "punched past a filtered dial")
	if err != nil || res.Via != api.ViaP2P {
		t.Fatalf("chat %+v %v", res, err)
	}
	waitEvent(t, b, "chat", received(res.MessageID))
}

// TestSimultaneousLoginPunching is TestSimultaneousLogin with punching
// clients: their staggered ladders (docs/protocol.md 9.7) may cross, and
// the tie-break of 6.4 still leaves both ends on one channel.
func TestSimultaneousLoginPunching(t *testing.T) {
	for range 3 {
		simultaneousLogin(t, punching(protocol.MethodTCPPunch, protocol.MethodUDPPunch))
	}
}
