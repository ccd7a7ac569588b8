package server

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"

	"github.com/p2plab/p2plab/protocol"
)

// peer11 is a session's protocol version 1.1 state (docs/protocol.md 9.1).
type peer11 struct {
	v11      bool // the Login carried features
	features []string
	key      string
	local    *protocol.Endpoint
	token    string         // the UDP hello secret (9.5)
	udp      netip.AddrPort // observed UDP endpoint, once a hello came
}

// info renders the user's v1.1 members of ResP2pInfo and UserStateNotify.
func (p peer11) info() protocol.Peer11 {
	out := protocol.Peer11{Features: p.features, Key: p.key, Local: p.local}
	if p.udp.IsValid() {
		ep := protocol.EndpointOf(p.udp)
		out.UDP = &ep
	}
	return out
}

var errBadKey = errors.New("key is not the standard base64 of a 32-byte Ed25519 public key")

// features lists what the server does (docs/protocol.md 9.1); none for a
// server configured as version 1.
func (s *Server) features() []string {
	if s.cfg.Version1 {
		return nil
	}
	fs := []string{protocol.FeatureID, protocol.FeaturePunch}
	if s.udpServing.Load() > 0 {
		fs = append(fs, protocol.FeatureUDP)
	}
	return fs
}

func (s *Server) has(f string) bool { return protocol.Has(s.features(), f) }

// login11 reads the v1.1 members of a Login into c.p11. A server
// configured as version 1 ignores them.
func (c *conn) login11(body json.RawMessage) error {
	if c.s.cfg.Version1 {
		return nil
	}
	var l protocol.Login
	// The userID was read apart; a body of the wrong shape is refused there.
	if json.Unmarshal(body, &l) != nil || l.Features == nil {
		return nil
	}
	p := peer11{v11: true, features: protocol.CleanFeatures(l.Features)}
	if l.Key != "" {
		if _, ok := protocol.ParseKey(l.Key); !ok {
			return errBadKey
		}
		p.key = l.Key
	}
	if l.Local != nil {
		if ap, ok := l.Local.AddrPort(); ok {
			ep := protocol.EndpointOf(ap)
			p.local = &ep
		}
	}
	c.p11 = p
	return nil
}

// loginResult adds the v1.1 members to a LoginResult for a v1.1 client; a
// successful one gets its UDP token (made here, under s.mu in register).
func (c *conn) loginResult(r protocol.LoginResult) protocol.LoginResult {
	if !c.p11.v11 {
		return r
	}
	r.Features = c.s.features()
	r.HeartbeatMS = c.s.cfg.Heartbeat.Milliseconds()
	r.Misses = c.s.cfg.Misses
	if r.OK && protocol.Has(r.Features, protocol.FeatureUDP) {
		var b [16]byte
		_, _ = rand.Read(b[:])
		c.p11.token = hex.EncodeToString(b[:])
		r.Token = c.p11.token
	}
	return r
}

// relayPunch forwards a PunchConnect or PunchSync (docs/protocol.md 9.6):
// the sender is enforced as for chat, the endpoints of a PunchConnect are
// the server's own records of the sender, and the destination must have
// advertised punch. These frames are counted apart from uploads and
// downloads.
func (c *conn) relayPunch(f protocol.Frame) (bool, string) {
	_, body, err := protocol.RelayBody(f.Body, c.user)
	var pc protocol.PunchConnect // PunchSync's members are a subset
	if err == nil {
		if json.Unmarshal(body, &pc) != nil || pc.PunchID == "" || len(pc.PunchID) > 64 {
			err = &protocol.FrameError{Code: protocol.CodeBadFrame, Reason: "no punchID string of 1-64 bytes"}
		}
	}
	if err != nil {
		var fe *protocol.FrameError
		errors.As(err, &fe)
		c.sendError(f.ID, protocol.Error{Code: fe.Code, Message: f.Type + ": " + fe.Reason, PunchID: pc.PunchID})
		if fe.Code == protocol.CodeBadFrame {
			c.s.m.badFrames.Add(1)
			return true, "bad frame: " + fe.Reason
		}
		c.s.m.forbidden.Add(1)
		return false, ""
	}
	s := c.s
	s.mu.RLock()
	d := s.online[pc.DestUserID]
	var out []byte
	code := ""
	switch {
	case d == nil:
		code = protocol.CodeUserOffline
	case !protocol.Has(d.p11.features, protocol.FeaturePunch):
		code = protocol.CodeUnsupported
	case f.Type == protocol.TypePunchConnect:
		pc.UserID = c.user
		tcp := protocol.EndpointOf(c.remote)
		pc.TCP, pc.UDP, pc.Local = &tcp, nil, c.p11.local
		if c.p11.udp.IsValid() {
			udp := protocol.EndpointOf(c.p11.udp)
			pc.UDP = &udp
		}
		pc.Methods = protocol.CleanFeatures(pc.Methods)
		out = encodeFrame(protocol.MustFrame(f.Type, pc))
	default:
		out = encodeFrame(protocol.MustFrame(f.Type, protocol.PunchSync{PunchID: pc.PunchID, UserID: c.user,
			DestUserID: pc.DestUserID, Methods: protocol.CleanFeatures(pc.Methods)}))
	}
	if code == "" && !d.enqueue(out) {
		code = protocol.CodeUserOffline
	}
	s.mu.RUnlock()
	if code != "" {
		c.sendError(f.ID, protocol.Error{Code: code, Message: pc.DestUserID + " cannot take " + f.Type, PunchID: pc.PunchID})
		return false, ""
	}
	s.m.punchRelayed.Add(1)
	return false, ""
}

// hello handles one UDPHello from src (docs/protocol.md 9.5). It returns the
// answer to send, or nil when the hello is ignored (and counted).
func (s *Server) hello(dgram []byte, src netip.AddrPort) []byte {
	f, err := protocol.UnmarshalDatagram(dgram)
	var h protocol.UDPHello
	if err != nil || f.Type != protocol.TypeUDPHello || f.DecodeBody(&h) != nil || h.Token == "" {
		s.m.udpRejected.Add(1)
		return nil
	}
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	s.mu.RLock()
	c := s.online[h.UserID]
	ok := c != nil && c.p11.token != "" && subtle.ConstantTimeCompare([]byte(c.p11.token), []byte(h.Token)) == 1
	moved := ok && c.p11.udp != src
	s.mu.RUnlock()
	if !ok {
		s.m.udpRejected.Add(1)
		return nil
	}
	if moved {
		s.mu.Lock()
		if s.online[h.UserID] == c {
			c.p11.udp = src
		}
		s.mu.Unlock()
	}
	s.m.udpHellos.Add(1)
	b, err := protocol.MarshalDatagram(protocol.MustFrame(protocol.TypeUDPHelloAck,
		protocol.UDPHelloAck{Seq: h.Seq, Observed: protocol.EndpointOf(src)}))
	if err != nil {
		return nil
	}
	return b
}
