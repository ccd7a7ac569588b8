package defective

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"sync"

	"github.com/p2plab/p2plab/protocol"
)

// Client defects of protocol version 1.1 (docs/protocol.md section 9).
const (
	// AcceptAnyProof takes an inbound channel whatever the initiator's
	// proof: the proxy hands the wrapped client a key of its own for every
	// peer and signs each initiator's step 3 with it.
	AcceptAnyProof ClientDefect = "accept-any-proof"
	// AcceptV1Claim takes a version 1 SetupP2PMessage (no nonce) for a
	// user with a vouched key: the proxy runs the v1.1 handshake with the
	// wrapped client in that user's name, with its own key.
	AcceptV1Claim ClientDefect = "accept-v1-claim"
	// BadProof sends a step 2 proof that does not verify.
	BadProof ClientDefect = "bad-proof"
	// CrossChannel believes a ChatAck or a file frame on one peer's
	// channel for a message or transfer of another peer's channel: the
	// proxy hands it to the wrapped client on that other channel.
	CrossChannel ClientDefect = "cross-channel"
	// NoPunch advertises punch but sends no UDP hello and never answers a
	// PunchConnect.
	NoPunch ClientDefect = "no-punch"
	// WrongMethod reports method direct for a channel the initiator made
	// by lan.
	WrongMethod ClientDefect = "wrong-method"
)

// v11 is a wrapper's version 1.1 state.
type v11 struct {
	priv ed25519.PrivateKey // the key handed out for every keyed peer

	kmu    sync.Mutex
	keyed  map[string]string     // peers the server vouched a key for: the key
	owner  map[string]*channel   // messageID or transferID -> its channel
	udpUp  *net.UDPConn          // the wrapped client's hellos, towards the server
	udpSrc netip.AddrPort        // where the wrapped client's hellos come from
	chans  map[*channel]struct{} // open inbound channels
}

func (w *wrapper) init11() {
	_, w.priv, _ = ed25519.GenerateKey(nil)
	w.keyed, w.owner, w.chans = map[string]string{}, map[string]*channel{}, map[*channel]struct{}{}
}

// swapsKeys reports whether the defect replaces the peers' keys.
func (w *wrapper) swapsKeys() bool { return w.defect == AcceptAnyProof || w.defect == AcceptV1Claim }

// framed reports whether an inbound channel from the peer is copied frame
// by frame (for the v1.1 defects that read or rewrite it) rather than byte
// for byte (channelIn).
func (w *wrapper) framed() bool {
	return w.swapsKeys() || w.defect == BadProof || w.defect == CrossChannel
}

// toClientLink edits a frame from the server to the wrapped client: the
// filters of toClient, then the key swap.
func (w *wrapper) toClientLink(f protocol.Frame) (protocol.Frame, bool) {
	f, send := w.toClient(f)
	if !send || !w.swapsKeys() {
		return f, send
	}
	mine := protocol.EncodeKey(w.priv.Public().(ed25519.PublicKey))
	swap := func(user string, p *protocol.Peer11) {
		if p.Key != "" {
			w.kmu.Lock()
			w.keyed[user] = p.Key
			w.kmu.Unlock()
			p.Key = mine
		}
	}
	switch f.Type {
	case protocol.TypeResP2pInfo:
		var b protocol.ResP2pInfo
		if json.Unmarshal(f.Body, &b) == nil {
			for i := range b.Users {
				swap(b.Users[i].UserID, &b.Users[i].Peer11)
			}
			f.Body, _ = json.Marshal(b)
		}
	case protocol.TypeUserStateNotify:
		var b protocol.UserStateNotify
		if json.Unmarshal(f.Body, &b) == nil && b.Key != "" {
			swap(b.UserID, &b.Peer11)
			f.Body, _ = json.Marshal(b)
		}
	}
	return f, true
}

// channel is one inbound P2P channel through the wrapper: in towards the
// remote peer, out towards the wrapped client.
type channel struct {
	w       *wrapper
	in, out *frameWriter
	peer    string // the userID of the remote's first SetupP2PMessage (under kmu)
}

func (w *wrapper) newChannel(in, out net.Conn) *channel {
	ch := &channel{w: w, in: &frameWriter{c: in}, out: &frameWriter{c: out}}
	w.kmu.Lock()
	w.chans[ch] = struct{}{}
	w.kmu.Unlock()
	return ch
}

func (w *wrapper) dropChannel(ch *channel) {
	w.kmu.Lock()
	defer w.kmu.Unlock()
	delete(w.chans, ch)
	for k, c := range w.owner {
		if c == ch {
			delete(w.owner, k)
		}
	}
}

// ownerKey names what a frame belongs to: its messageID or transferID.
func ownerKey(f protocol.Frame) string {
	r := decodeRelay(f)
	if r.MessageID != "" {
		return "m/" + r.MessageID
	}
	if r.TransferID != "" {
		return "t/" + r.TransferID
	}
	return ""
}

func decodeRelay(f protocol.Frame) protocol.Relay {
	var r protocol.Relay
	_ = json.Unmarshal(f.Body, &r)
	return r
}

// fromClient edits a frame from the wrapped client to the remote peer; it
// notes which channel each message and transfer belongs to.
func (ch *channel) fromClient(f protocol.Frame) (protocol.Frame, bool) {
	if ch.w.dropFromClient(f) {
		return f, false
	}
	if ch.w.defect == CrossChannel && (f.Type == protocol.TypeClientChatMessage || f.Type == protocol.TypeFileOffer) {
		if k := ownerKey(f); k != "" {
			ch.w.kmu.Lock()
			ch.w.owner[k] = ch
			ch.w.kmu.Unlock()
		}
	}
	return f, true
}

// toClient edits a frame from the remote peer to the wrapped client: with
// CrossChannel an ack or file frame that belongs to another channel is
// handed to the wrapped client on that channel.
func (ch *channel) toClient(f protocol.Frame) (protocol.Frame, bool) {
	if ch.w.defect != CrossChannel {
		return f, true
	}
	ch.w.kmu.Lock()
	defer ch.w.kmu.Unlock()
	if f.Type == protocol.TypeSetupP2PMessage && ch.peer == "" {
		ch.peer = decodeRelay(f).UserID
	}
	k := ownerKey(f)
	if k == "" {
		return f, true
	}
	switch f.Type {
	case protocol.TypeFileOffer:
		ch.w.owner[k] = ch
	case protocol.TypeChatAck, protocol.TypeFileChunk, protocol.TypeFileDone, protocol.TypeFileResult:
		if o := ch.w.owner[k]; o != nil && o != ch {
			// In the owner channel's peer's name, so that it is believed.
			var m map[string]json.RawMessage
			if json.Unmarshal(f.Body, &m) == nil {
				m["userID"], _ = json.Marshal(o.peer)
				f.Body, _ = json.Marshal(m)
			}
			_ = o.out.write(f)
			return f, false
		}
	}
	return f, true
}

func randomNonce() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// interpose runs the start of an inbound channel's handshake (docs/protocol.md
// 9.4) for the handshake defects; false when the channel is lost.
func (w *wrapper) interpose(ch *channel, rin *rawIn, rout *protocol.Reader) bool {
	if !w.swapsKeys() && w.defect != BadProof {
		return true
	}
	raw1, f1, parsed, err := rin.next()
	if err != nil {
		return false
	}
	var s1 protocol.SetupP2P
	if !parsed || f1.Type != protocol.TypeSetupP2PMessage || f1.DecodeBody(&s1) != nil {
		return ch.out.writeRaw(raw1) == nil
	}
	w.kmu.Lock()
	realKey := w.keyed[s1.UserID]
	w.kmu.Unlock()
	if s1.Nonce == "" {
		if w.defect != AcceptV1Claim || realKey == "" {
			return ch.out.writeRaw(raw1) == nil
		}
		// Speak v1.1 to the wrapped client in the claimed user's name.
		nI := randomNonce()
		if ch.out.write(protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: s1.UserID, Nonce: nI, Method: protocol.MethodDirect})) != nil {
			return false
		}
		f2, err := rout.ReadFrame()
		if err != nil {
			return false
		}
		var s2 protocol.SetupP2P
		if f2.Type != protocol.TypeSetupP2PMessage || f2.DecodeBody(&s2) != nil || s2.Nonce == "" {
			return ch.in.write(f2) == nil
		}
		proof := protocol.Prove(w.priv, protocol.Transcript(protocol.RoleInitiate, s1.UserID, s2.UserID, nI, s2.Nonce))
		return ch.out.write(protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: s1.UserID, Proof: proof})) == nil
	}
	if ch.out.writeRaw(raw1) != nil {
		return false
	}
	f2, err := rout.ReadFrame()
	if err != nil {
		return false
	}
	var s2 protocol.SetupP2P
	step2 := f2.Type == protocol.TypeSetupP2PMessage && f2.DecodeBody(&s2) == nil && s2.Nonce != ""
	if step2 && w.defect == BadProof {
		s2.Proof = protocol.Prove(w.priv, []byte("not the transcript"))
		f2 = protocol.MustFrame(protocol.TypeSetupP2PMessage, s2)
	}
	if ch.in.write(f2) != nil {
		return false
	}
	if !step2 || !w.swapsKeys() {
		return true
	}
	raw3, f3, parsed, err := rin.next()
	if err != nil {
		return false
	}
	// The wrapped client checks the proof with the proxy's key: re-sign
	// it, any proof (accept-any-proof) or a valid one (accept-v1-claim).
	var s3 protocol.SetupP2P
	tr := protocol.Transcript(protocol.RoleInitiate, s1.UserID, s2.UserID, s1.Nonce, s2.Nonce)
	if parsed && f3.Type == protocol.TypeSetupP2PMessage && f3.DecodeBody(&s3) == nil {
		pub, _ := protocol.ParseKey(realKey)
		if w.defect == AcceptAnyProof || protocol.CheckProof(pub, tr, s3.Proof) {
			s3.Proof = protocol.Prove(w.priv, tr)
			return ch.out.write(protocol.MustFrame(protocol.TypeSetupP2PMessage, s3)) == nil
		}
	}
	return ch.out.writeRaw(raw3) == nil
}

// rawIn reads an inbound channel from the peer frame by frame, keeping
// each frame's bytes, so that a malformed frame still reaches the wrapped
// client as it was sent (as channelIn does for the other defects).
type rawIn struct {
	br   *bufio.Reader
	tail bool // a length outside 1..MaxFrameLen came: the rest is unframed
}

// next returns the next frame's bytes, and the frame when it parses.
// After a length outside 1..MaxFrameLen raw is the 4-byte header and tail
// is set.
func (r *rawIn) next() (raw []byte, f protocol.Frame, parsed bool, err error) {
	hdr := make([]byte, 4)
	if _, err := io.ReadFull(r.br, hdr); err != nil {
		return nil, f, false, err
	}
	n := binary.BigEndian.Uint32(hdr)
	if n == 0 || n > protocol.MaxFrameLen {
		r.tail = true
		return hdr, f, false, nil
	}
	raw = make([]byte, 4+int(n))
	copy(raw, hdr)
	if _, err := io.ReadFull(r.br, raw[4:]); err != nil {
		return nil, f, false, err
	}
	f, err = protocol.Unmarshal(raw[4:])
	return raw, f, err == nil, nil
}

// copyIn copies the peer's side of an inbound channel to the wrapped
// client through edit, frame by frame, byte for byte unless edit rewrites
// a frame; malformed frames and an unframed tail pass as they are.
func (ch *channel) copyIn(r *rawIn, edit func(protocol.Frame) (protocol.Frame, bool)) {
	for {
		if r.tail {
			ch.out.mu.Lock()
			_, _ = io.Copy(ch.out.c, r.br)
			ch.out.mu.Unlock()
			return
		}
		raw, f, parsed, err := r.next()
		if err != nil {
			return
		}
		if parsed {
			nf, send := edit(f)
			if !send {
				continue
			}
			if nf.Type != f.Type || !bytes.Equal(nf.Body, f.Body) {
				if ch.out.write(nf) != nil {
					return
				}
				continue
			}
		}
		if ch.out.writeRaw(raw) != nil {
			return
		}
	}
}

// serveUDP forwards the wrapped client's UDP hellos (sent to its "server",
// the wrapper's link port) to the real server, from the UDP socket of the
// endpoint the server advertises for it, and the answers back (9.5).
func (w *wrapper) serveUDP(conn *net.UDPConn) {
	defer w.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, src, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if w.defect == NoPunch {
			continue
		}
		up := w.upstreamUDP(conn, src)
		if up != nil {
			_, _ = up.WriteToUDPAddrPort(buf[:n], w.server)
		}
	}
}

// upstreamUDP is the socket at the advertised endpoint, made with its
// reader on first use.
func (w *wrapper) upstreamUDP(conn *net.UDPConn, src netip.AddrPort) *net.UDPConn {
	w.mu.Lock()
	adv := w.advertised
	w.mu.Unlock()
	ap, err := netip.ParseAddrPort(adv)
	if err != nil {
		return nil
	}
	w.kmu.Lock()
	defer w.kmu.Unlock()
	w.udpSrc = src
	if w.udpUp != nil && w.udpUp.LocalAddr().(*net.UDPAddr).AddrPort() == ap {
		return w.udpUp
	}
	up, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil || !w.track(up) {
		return nil
	}
	w.udpUp = up
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		b := make([]byte, 2048)
		for {
			n, _, err := up.ReadFromUDPAddrPort(b)
			if err != nil {
				return
			}
			w.kmu.Lock()
			to := w.udpSrc
			w.kmu.Unlock()
			_, _ = conn.WriteToUDPAddrPort(b[:n], to)
		}
	}()
	return up
}
