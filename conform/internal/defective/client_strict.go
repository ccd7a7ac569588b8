package defective

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/p2plab/p2plab/protocol"
)

// Client defects of the strict checks (docs/protocol.md 3.9, 3.10, 6.3,
// 6.9).
const (
	// RandomPort dials the client's P2P channels from a fresh port instead
	// of its shared listen endpoint (6.1, 6.3).
	RandomPort ClientDefect = "random-port"
	// NoDigestCheck never checks a received file's SHA-256 (3.9): the
	// wrapper holds an incoming transfer until its FileDone and gives the
	// client an offer carrying the digest of the data that came.
	NoDigestCheck ClientDefect = "no-digest-check"
	// SilentLogout logs out without a Logout frame (3.10): the wrapper
	// drops it on its way to the server.
	SilentLogout ClientDefect = "silent-logout"
	// DeafToSilence never notices a silent server (6.9): the wrapper feeds
	// the client Heartbeats on its server link whatever the server does.
	DeafToSilence ClientDefect = "deaf-to-silence"
	// NoSizeCheck never checks a received file's size (3.9): as
	// no-digest-check, with the offer's size made the size that came.
	NoSizeCheck ClientDefect = "no-size-check"
	// AcceptBadSetup takes any userID in a SetupP2PMessage (6.3): the
	// wrapper turns an invalid one into the user last seen online.
	AcceptBadSetup ClientDefect = "accept-bad-setup"
	// IgnoreSetupSwitch ignores a later SetupP2PMessage naming another
	// user instead of answering forbidden (6.3): the wrapper drops it.
	IgnoreSetupSwitch ClientDefect = "ignore-setup-switch"
	// DialOnOnline dials a user on its UserStateNotify online (6.2: the
	// newcomer dials): the wrapper dials the newcomer from the client's
	// address and sends SetupP2PMessage in its name.
	DialOnOnline ClientDefect = "dial-on-online"
	// NoFileRelay never sends files through the server (6.5): the wrapper
	// drops File* frames on the server link.
	NoFileRelay ClientDefect = "no-file-relay"
)

// rewritesChannel reports whether the defect rewrites the frames a peer
// sends the wrapped client on a P2P channel (channelIn then reads each
// whole frame first).
func (w *wrapper) rewritesChannel() bool {
	switch w.defect {
	case NoDigestCheck, NoSizeCheck, AcceptBadSetup, IgnoreSetupSwitch, DoubleDeliver, KeepSilentChannel:
		return true
	}
	return false
}

// inChannel is what channelRewrite keeps of one channel from a peer.
type inChannel struct {
	src   net.Conn // the peer's side: it names the channel's held files
	first bool     // no frame has come yet
	user  string   // the userID of the first SetupP2PMessage
}

// fileKey names a held transfer: by channel (or server link) and
// transferID, so that a frame on one channel never joins another's
// transfer (docs/protocol.md 9.4).
type fileKey struct {
	src any
	id  string
}

// channelRewrite applies the defect to one whole frame payload from a
// peer on a channel; it returns the frames to give the wrapped client,
// encoded, or the payload as it came.
func (w *wrapper) channelRewrite(ch *inChannel, hdr, payload []byte) [][]byte {
	raw := [][]byte{append(append([]byte(nil), hdr...), payload...)}
	f, err := protocol.Unmarshal(payload)
	if err != nil {
		return raw // malformed: the client judges it
	}
	first := ch.first
	ch.first = false
	if f.Type == protocol.TypeSetupP2PMessage && first {
		ch.user = decodeRelay(f).UserID
	}
	switch {
	case f.Type == protocol.TypeSetupP2PMessage && first && w.defect == AcceptBadSetup:
		var b protocol.SetupP2P
		if json.Unmarshal(f.Body, &b) == nil && !protocol.ValidUserID(b.UserID) {
			// The user last seen online: the client then takes the
			// channel as that user's, as a client that never checks.
			w.mu.Lock()
			b.UserID = w.lastOnline
			w.mu.Unlock()
			f.Body, _ = json.Marshal(b)
		}
	case f.Type == protocol.TypeSetupP2PMessage && !first && w.defect == IgnoreSetupSwitch && decodeRelay(f).UserID != ch.user:
		// Another user: dropped. The same user's later frame is the
		// identity handshake's step 3 (9.4), which passes.
		return nil
	}
	f = w.coverRewrite(f) // client_cover.go
	var out [][]byte
	for _, g := range w.holdFiles(ch.src, f) {
		b, err := protocol.Marshal(g)
		if err != nil {
			return raw
		}
		out = append(out, b)
	}
	return out
}

// maskSilence (deaf-to-silence) writes a Heartbeat to the wrapped client's
// server link every half interval until the returned stop is called.
func (w *wrapper) maskSilence(c net.Conn) (stop func()) {
	if w.defect != DeafToSilence {
		return func() {}
	}
	return w.beat(c, func() protocol.Frame { return protocol.Frame{Type: protocol.TypeHeartbeat} })
}

// beat writes next() to c every half heartbeat interval, one Write per
// frame, until the returned stop is called (or a write fails).
func (w *wrapper) beat(c net.Conn, next func() protocol.Frame) (stop func()) {
	if w.heartbeat <= 0 {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(w.heartbeat / 2)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				if protocol.WriteFrame(c, next()) != nil {
					return
				}
			}
		}
	}()
	return func() { close(quit); <-done }
}

// outbound maps the peers' real endpoints to the wrapper's listeners that
// stand for them, so that the wrapped client's channel dials pass through
// the wrapper, which dials on from the advertised endpoint (or, for
// random-port, from a fresh port).
type outbound struct {
	mu      sync.Mutex
	byReal  map[string]string // real "ip:port" -> proxy "ip:port"
	byProxy map[string]string
}

var endpointRe = regexp.MustCompile(`\b(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})\b`)

// unproxy replaces every proxy endpoint in s by the real one it stands for.
func (o *outbound) unproxy(s string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.byProxy) == 0 {
		return s
	}
	return endpointRe.ReplaceAllStringFunc(s, func(m string) string {
		if r, ok := o.byProxy[m]; ok {
			return r
		}
		return m
	})
}

// proxyFor returns the endpoint the wrapped client is to dial for the peer
// at ip:port, starting its listener on first use.
func (w *wrapper) proxyFor(ip string, port int) (string, int) {
	real := net.JoinHostPort(ip, strconv.Itoa(port))
	w.mu.Lock()
	adv := w.advertised
	w.mu.Unlock()
	if real == adv {
		return ip, port // the client itself
	}
	w.out.mu.Lock()
	if p, ok := w.out.byReal[real]; ok {
		w.out.mu.Unlock()
		ap := netip.MustParseAddrPort(p)
		return ap.Addr().String(), int(ap.Port())
	}
	w.out.mu.Unlock()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil || !w.track(ln) {
		return ip, port
	}
	p := ln.Addr().String()
	w.out.mu.Lock()
	w.out.byReal[real], w.out.byProxy[p] = p, real
	w.out.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !w.track(c) {
				return
			}
			w.wg.Add(1)
			go w.dialOut(c, real)
		}
	}()
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	return ap.Addr().String(), int(ap.Port())
}

// dialOut carries one channel the wrapped client dialed on to the real
// peer: from the advertised endpoint, or a fresh port for random-port.
func (w *wrapper) dialOut(c net.Conn, real string) {
	defer w.wg.Done()
	w.mu.Lock()
	adv := w.advertised
	w.mu.Unlock()
	local, err := netip.ParseAddrPort(adv)
	if err != nil {
		_ = c.Close()
		return
	}
	if w.defect == RandomPort {
		local = netip.AddrPortFrom(local.Addr(), 0)
	}
	d := net.Dialer{Control: reuse, LocalAddr: net.TCPAddrFromAddrPort(local), Timeout: 5 * time.Second}
	peer, err := d.DialContext(context.Background(), "tcp", real)
	if err != nil || !w.track(peer) {
		_ = c.Close()
		return
	}
	if w.defect == SetupLate && protocol.WriteFrame(peer, protocol.Frame{Type: protocol.TypeHeartbeat, ID: coverHeartbeatID}) != nil {
		_ = c.Close()
		return
	}
	w.splice(c, peer)
}

// toServerStrict filters a frame from the wrapped client to its server:
// the defects of this file, then those of client_more.go.
func (w *wrapper) toServerStrict(f protocol.Frame) (protocol.Frame, bool) {
	f, ok := w.coverToServer(f) // client_cover.go
	if !ok {
		return f, false
	}
	if w.defect == NoFileRelay {
		switch f.Type {
		case protocol.TypeFileOffer, protocol.TypeFileChunk, protocol.TypeFileDone, protocol.TypeFileResult:
			return f, false
		}
	}
	return w.toServer(f)
}

// toClientStrict rewrites a frame from the server on its way to the
// wrapped client: the defects of client_more.go, then peer endpoints
// become the wrapper's stand-ins (every defect) and this file's defects
// apply.
func (w *wrapper) toClientStrict(f protocol.Frame) []protocol.Frame {
	f, ok := w.toClientLink(f)
	if !ok || w.coverDropToClient(f) { // client_cover.go
		return nil
	}
	switch f.Type {
	case protocol.TypeResP2pInfo:
		var b protocol.ResP2pInfo
		if json.Unmarshal(f.Body, &b) == nil {
			for i := range b.Users {
				b.Users[i].IP, b.Users[i].Port = w.proxyFor(b.Users[i].IP, b.Users[i].Port)
			}
			f.Body, _ = json.Marshal(b)
		}
	case protocol.TypeUserStateNotify:
		var b protocol.UserStateNotify
		if json.Unmarshal(f.Body, &b) == nil && b.OnLine && b.IP != "" {
			w.mu.Lock()
			w.lastOnline = b.UserID
			w.mu.Unlock()
			if w.defect == DialOnOnline {
				w.wg.Add(1)
				go w.dialNewcomer(net.JoinHostPort(b.IP, strconv.Itoa(b.Port)))
			}
			b.IP, b.Port = w.proxyFor(b.IP, b.Port)
			f.Body, _ = json.Marshal(b)
		}
	}
	return w.holdFiles(w, f) // the server link: keyed by the wrapper
}

// holdFiles (no-digest-check, no-size-check) holds an incoming transfer
// until its FileDone and then gives the client an offer that matches the
// data that came. src names where the frame came from (a channel's peer
// side, or the wrapper for the server link): a transfer is held per
// source.
func (w *wrapper) holdFiles(src any, f protocol.Frame) []protocol.Frame {
	if w.defect != NoDigestCheck && w.defect != NoSizeCheck {
		return []protocol.Frame{f}
	}
	var ids struct {
		TransferID string `json:"transferID"`
	}
	_ = json.Unmarshal(f.Body, &ids)
	w.mu.Lock()
	defer w.mu.Unlock()
	k := fileKey{src, ids.TransferID}
	held, holding := w.files[k]
	switch {
	case f.Type == protocol.TypeFileOffer:
		w.files[k] = []protocol.Frame{f}
		return nil
	case holding && f.Type == protocol.TypeFileChunk:
		w.files[k] = append(held, f)
		return nil
	case holding && f.Type == protocol.TypeFileDone:
		delete(w.files, k)
		h := sha256.New()
		size := 0
		for _, c := range held[1:] {
			var ch protocol.FileChunk
			_ = json.Unmarshal(c.Body, &ch)
			h.Write(ch.Data)
			size += len(ch.Data)
		}
		var o map[string]any
		if json.Unmarshal(held[0].Body, &o) == nil {
			if w.defect == NoDigestCheck {
				o["sha256"] = hex.EncodeToString(h.Sum(nil))
			} else {
				o["size"] = size
			}
			held[0].Body, _ = json.Marshal(o)
		}
		return append(held, f)
	}
	return []protocol.Frame{f}
}

// listenAndDial listens on a fresh port of the address that routes to the
// server and dials the server from that port (both with SO_REUSEADDR and
// SO_REUSEPORT), as a client's shared endpoint (docs/protocol.md 6.1).
func (w *wrapper) listenAndDial() (net.Listener, net.Conn, error) {
	probe, err := net.Dial("udp", w.server.String()) // no packet: picks the source address
	if err != nil {
		return nil, nil, err
	}
	src := probe.LocalAddr().(*net.UDPAddr).AddrPort().Addr()
	_ = probe.Close()
	lc := net.ListenConfig{Control: reuse}
	ln, err := lc.Listen(context.Background(), "tcp", netip.AddrPortFrom(src, 0).String())
	if err != nil {
		return nil, nil, err
	}
	if !w.track(ln) {
		return nil, nil, net.ErrClosed
	}
	d := net.Dialer{Control: reuse, LocalAddr: ln.Addr(), Timeout: 5 * time.Second}
	s, err := d.Dial("tcp", w.server.String())
	if err != nil {
		_ = ln.Close()
		return nil, nil, err
	}
	if !w.track(s) {
		_ = ln.Close()
		return nil, nil, net.ErrClosed
	}
	return ln, s, nil
}

// dialNewcomer (dial-on-online) opens a channel to a user that just came
// online, as the wrapped client would if it dialed on UserStateNotify
// online, and holds it until the end. It dials from a fresh port of the
// client's address: from the advertised endpoint its SYN could meet the
// newcomer's own dial in a simultaneous open and take that channel.
func (w *wrapper) dialNewcomer(real string) {
	defer w.wg.Done()
	w.mu.Lock()
	adv := w.advertised
	w.mu.Unlock()
	local, err := netip.ParseAddrPort(adv)
	if err != nil {
		return
	}
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(local.Addr(), 0)), Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", real)
	if err != nil || !w.track(c) {
		return
	}
	if protocol.WriteFrame(c, protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: w.user})) != nil {
		return
	}
	_, _ = io.Copy(io.Discard, c)
}

// pumpMany copies frames from src to dst, writing what fn makes of each.
func (w *wrapper) pumpMany(dst, src net.Conn, fn func(protocol.Frame) []protocol.Frame) {
	r := protocol.NewReader(bufio.NewReader(src))
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return
		}
		for _, g := range fn(f) {
			if err := protocol.WriteFrame(dst, g); err != nil {
				return
			}
		}
	}
}
