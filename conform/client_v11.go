package conform

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
)

// Client checks of protocol version 1.1 (docs/protocol.md section 9). The
// fake peers are v1.1 users of the reference server; the client under test
// is looked up in their ResP2pInfo, and a requirement whose feature it does
// not advertise there is unsupported.

// v11Features are the features the checker's v1.1 fake peers advertise.
var v11Features = []string{protocol.FeatureID, protocol.FeaturePunch}

// nonce is 32 fresh random bytes in standard base64 (docs/protocol.md 9.4).
func nonce() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// cutEntry is the client under test's entry in p's ResP2pInfo.
func cutEntry(ctx context.Context, p *fakePeer, c *cut) (protocol.UserInfo, error) {
	users, err := listUsers(ctx, p.srv)
	if err != nil {
		return protocol.UserInfo{}, err
	}
	for _, u := range users {
		if u.UserID == c.user {
			return u, nil
		}
	}
	return protocol.UserInfo{}, fmt.Errorf("conform: the reference server does not list %s: %s", c.user, listOf(users))
}

// cutFeature fails as unsupported unless the client under test advertises
// f (FeatureAny: any feature at all) in its entry.
func cutFeature(ctx context.Context, p *fakePeer, c *cut, f string) (protocol.UserInfo, error) {
	u, err := cutEntry(ctx, p, c)
	if err != nil {
		return u, err
	}
	switch {
	case len(u.Features) == 0:
		return u, unsupportedf(f, "the client's Login carries no features: a version 1 client")
	case f != FeatureAny && !protocol.Has(u.Features, f):
		return u, unsupportedf(f, "the client advertises features %q, not %q", u.Features, f)
	}
	return u, nil
}

// start11 starts the client under test and logs in v1.1 fake peers after
// it (so it does not dial them, 6.2); it fails as unsupported unless the
// client advertises feature f. It returns the client's key.
func (t *clientT) start11(ctx context.Context, f string, names ...string) (*cut, []*fakePeer, ed25519.PublicKey, error) {
	c, err := t.startCUT(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	ps := make([]*fakePeer, len(names))
	for i, n := range names {
		if ps[i], err = t.fakeWith(ctx, n, false, v11Features); err != nil {
			return nil, nil, nil, err
		}
	}
	u, err := cutFeature(ctx, ps[0], c, f)
	if err != nil {
		return nil, nil, nil, err
	}
	key, ok := protocol.ParseKey(u.Key)
	if f == protocol.FeatureID && !ok {
		return nil, nil, nil, failf("the client's Login carries a key (the base64 of 32 bytes) with feature id", "entry %+v", u)
	}
	return c, ps, key, nil
}

// step2 waits for the client's answer to step 1 of the channel handshake
// (docs/protocol.md 9.4) and checks its proof against key.
func step2(ctx context.Context, s *session, c *cut, key ed25519.PublicKey, initiator, nonceI string) (protocol.SetupP2P, error) {
	f, err := s.expect(ctx, "SetupP2PMessage step 2 (userID, nonce, proof) from the client", isType(protocol.TypeSetupP2PMessage))
	if err != nil {
		return protocol.SetupP2P{}, err
	}
	a := body[protocol.SetupP2P](f)
	tr := protocol.Transcript(protocol.RoleAccept, initiator, c.user, nonceI, a.Nonce)
	if a.UserID != c.user || a.Nonce == "" || !protocol.CheckProof(key, tr, a.Proof) {
		return a, failf("SetupP2PMessage{userID: "+c.user+", nonce, proof: its signature of the accept transcript}", "%s", describe(f))
	}
	return a, nil
}

// handshake opens a channel from p to the client under test, from p's own
// endpoint, and runs the v1.1 handshake as initiator with method, proving
// p's key. It returns the channel once the client lists it.
func (t *clientT) handshake(ctx context.Context, p *fakePeer, c *cut, key ed25519.PublicKey, method string) (*session, error) {
	s, err := t.rawDial(ctx, p, c, p.srv.local())
	if err != nil {
		return nil, err
	}
	nI := nonce()
	if err := s.notice(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: p.id, Nonce: nI, Method: method}); err != nil {
		return nil, err
	}
	a, err := step2(ctx, s, c, key, p.id, nI)
	if err != nil {
		return nil, err
	}
	proof := protocol.Prove(p.priv, protocol.Transcript(protocol.RoleInitiate, p.id, c.user, nI, a.Nonce))
	if err := s.notice(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: p.id, Proof: proof}); err != nil {
		return nil, err
	}
	if _, err := c.waitChannels(ctx, "lists the channel opened and proved by "+p.id, func(chs []api.Channel) bool { return hasPeer(chs, p.id) }); err != nil {
		return nil, err
	}
	return s, nil
}

// channelRefused expects Error forbidden and a close on an impostor's channel,
// and the claimed peer not in the channel table.
func channelRefused(ctx context.Context, s *session, c *cut, claimed string) error {
	if _, err := expectError(ctx, s, protocol.CodeForbidden, 0); err != nil {
		return err
	}
	if err := s.expectClosed(ctx, "after forbidden"); err != nil {
		return err
	}
	chs, err := c.ctl.Channels(ctx)
	if err != nil {
		return fmt.Errorf("conform: GET /v1/channels: %w", err)
	}
	if hasPeer(chs, claimed) {
		return failf("no channel to "+claimed+" after the impostor was refused", "GET /v1/channels %+v", chs)
	}
	return nil
}

func v11ClientRequirements() []Requirement {
	return []Requirement{
		{
			ID: "client/9.1/features", Level: Must, Section: "9.1",
			Sentence: "A v1.1 client's Login advertises its features (1-32 of a-z0-9-, at most 16) and, with feature id, its Ed25519 public key.",
			Outcomes: []string{"the client's ResP2pInfo entry (as a v1.1 peer sees it) lists valid features and, with id, a key that is the base64 of 32 bytes"},
			client: func(ctx context.Context, t *clientT) error {
				c, ps, _, err := t.start11(ctx, FeatureAny, "peer")
				if err != nil {
					return err
				}
				u, err := cutEntry(ctx, ps[0], c)
				if err != nil {
					return err
				}
				for _, f := range u.Features {
					if !protocol.ValidFeature(f) {
						return failf("features of 1-32 of a-z0-9-", "feature %q in %v", f, u.Features)
					}
				}
				if len(u.Features) > protocol.MaxFeatures {
					return failf(fmt.Sprintf("at most %d features", protocol.MaxFeatures), "%d: %v", len(u.Features), u.Features)
				}
				if _, ok := protocol.ParseKey(u.Key); protocol.Has(u.Features, protocol.FeatureID) && !ok {
					return failf("a key that is the base64 of 32 bytes with feature id", "key %q", u.Key)
				}
				return nil
			},
		},
		{
			ID: "client/9.4/handshake", Level: Must, Section: "9.4",
			Sentence: "As acceptor, the client answers a SetupP2PMessage with nonce by its own nonce and proof, and takes the channel once the initiator's proof checks out.",
			Outcomes: []string{"SetupP2PMessage{userID: client, nonce, proof} whose proof verifies with the client's vouched key; after the peer's valid proof GET /v1/channels lists the peer and a Heartbeat on the channel is answered"},
			client: func(ctx context.Context, t *clientT) error {
				c, ps, key, err := t.start11(ctx, protocol.FeatureID, "peer")
				if err != nil {
					return err
				}
				ch, err := t.handshake(ctx, ps[0], c, key, protocol.MethodDirect)
				if err != nil {
					return err
				}
				return roundTrip(ctx, ch, "the proved channel answers")
			},
		},
		{
			ID: "client/9.4/wrong-proof", Level: Must, Section: "9.4",
			Sentence: "A channel whose initiator's proof does not verify with the claimed user's vouched key is refused with Error forbidden and closed.",
			Outcomes: []string{"an impostor claiming an online v1.1 peer, proving with another key, gets Error{code:forbidden} and a close; the peer is not in GET /v1/channels"},
			client: func(ctx context.Context, t *clientT) error {
				c, ps, key, err := t.start11(ctx, protocol.FeatureID, "peer")
				if err != nil {
					return err
				}
				p := ps[0]
				s, err := t.rawDial(ctx, p, c, netip.AddrPort{})
				if err != nil {
					return err
				}
				nI := nonce()
				if err := s.notice(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: p.id, Nonce: nI, Method: protocol.MethodDirect}); err != nil {
					return err
				}
				a, err := step2(ctx, s, c, key, p.id, nI)
				if err != nil {
					return err
				}
				_, other, _ := ed25519.GenerateKey(nil)
				proof := protocol.Prove(other, protocol.Transcript(protocol.RoleInitiate, p.id, c.user, nI, a.Nonce))
				if err := s.notice(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: p.id, Proof: proof}); err != nil {
					return err
				}
				return channelRefused(ctx, s, c, p.id)
			},
		},
		{
			ID: "client/9.2/downgrade-refused", Level: Must, Section: "9.2",
			Sentence: "A version 1 SetupP2PMessage (no nonce) claiming a user with a vouched key is refused with Error forbidden and closed.",
			Outcomes: []string{"SetupP2PMessage{userID: an online v1.1 peer} without nonce gets Error{code:forbidden} and a close; the peer is not in GET /v1/channels"},
			client: func(ctx context.Context, t *clientT) error {
				c, ps, _, err := t.start11(ctx, protocol.FeatureID, "peer")
				if err != nil {
					return err
				}
				s, err := t.rawDial(ctx, ps[0], c, netip.AddrPort{})
				if err != nil {
					return err
				}
				if err := s.notice(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: ps[0].id}); err != nil {
					return err
				}
				return channelRefused(ctx, s, c, ps[0].id)
			},
		},
		{
			ID: "client/9.4/forged-ack", Level: Must, Section: "9.4",
			Sentence: "A ChatAck on one peer's channel (in that peer's name) for a message sent to another peer is ignored.",
			Outcomes: []string{"q's message, acknowledged only by a forged ChatAck on p's channel, is still unacknowledged: when q's channel closes it is sent again through the server, and no chat_acked event reports it"},
			client: func(ctx context.Context, t *clientT) error {
				c, ps, key, err := t.start11(ctx, protocol.FeatureID, "p", "q")
				if err != nil {
					return err
				}
				p, q := ps[0], ps[1]
				chP, err := t.handshake(ctx, p, c, key, protocol.MethodDirect)
				if err != nil {
					return err
				}
				chQ, err := t.handshake(ctx, q, c, key, protocol.MethodDirect)
				if err != nil {
					return err
				}
				resp, err := c.ctl.Chat(ctx, q.id, "for q only")
				if err != nil {
					return failf("POST /v1/chat accepted", "%v", err)
				}
				if _, err := chQ.expect(ctx, "ClientChatMessage "+resp.MessageID, isChat(protocol.TypeClientChatMessage, resp.MessageID)); err != nil {
					return err
				}
				if err := chP.notice(protocol.TypeChatAck, protocol.ChatAck{MessageID: resp.MessageID, UserID: p.id, DestUserID: c.user}); err != nil {
					return err
				}
				if err := roundTrip(ctx, chP, "p's channel took the forged ack"); err != nil {
					return err
				}
				chQ.Close() // q never acknowledged: the message must come again
				if _, err := q.srv.expect(ctx, "ChatMessage "+resp.MessageID+" again, through the server (the forged ack was ignored)", isChat(protocol.TypeChatMessage, resp.MessageID)); err != nil {
					return err
				}
				if n := c.countEvents(evType(api.EventChatAcked, func(e api.Event) bool { return e.MessageID == resp.MessageID })); n > 0 {
					return failf("no chat_acked for "+resp.MessageID, "%d chat_acked events: %s", n, c.describeEvents())
				}
				return nil
			},
		},
		{
			ID: "client/9.4/forged-chunk", Level: Must, Section: "9.4",
			Sentence: "A file frame on one peer's channel (in that peer's name) for a transfer another peer offered is ignored.",
			Outcomes: []string{"a FileChunk on p's channel for the transfer q offered on its own channel changes nothing: q's chunks and FileDone get FileResult ok:true"},
			client: func(ctx context.Context, t *clientT) error {
				c, ps, key, err := t.start11(ctx, protocol.FeatureID, "p", "q")
				if err != nil {
					return err
				}
				p, q := ps[0], ps[1]
				chP, err := t.handshake(ctx, p, c, key, protocol.MethodDirect)
				if err != nil {
					return err
				}
				chQ, err := t.handshake(ctx, q, c, key, protocol.MethodDirect)
				if err != nil {
					return err
				}
				data := []byte(strings.Repeat("q's own file\n", 64))
				sum := sha256.Sum256(data)
				tid := q.id + "-t1"
				offer := protocol.FileOffer{TransferID: tid, UserID: q.id, DestUserID: c.user, FileName: "cf-q.txt", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
				if err := chQ.notice(protocol.TypeFileOffer, offer); err != nil {
					return err
				}
				if err := roundTrip(ctx, chQ, "q's channel took the offer"); err != nil {
					return err
				}
				forged := []byte(strings.Repeat("X", len(data)))
				if err := chP.notice(protocol.TypeFileChunk, protocol.FileChunk{TransferID: tid, UserID: p.id, DestUserID: c.user, Data: forged}); err != nil {
					return err
				}
				if err := roundTrip(ctx, chP, "p's channel took the forged chunk"); err != nil {
					return err
				}
				if err := chQ.notice(protocol.TypeFileChunk, protocol.FileChunk{TransferID: tid, UserID: q.id, DestUserID: c.user, Data: data}); err != nil {
					return err
				}
				if err := chQ.notice(protocol.TypeFileDone, protocol.FileDone{TransferID: tid, UserID: q.id, DestUserID: c.user}); err != nil {
					return err
				}
				f, err := chQ.expect(ctx, "FileResult for "+tid, func(f protocol.Frame) bool {
					return f.Type == protocol.TypeFileResult && body[protocol.FileResult](f).TransferID == tid
				})
				if err != nil {
					return err
				}
				if !body[protocol.FileResult](f).OK {
					return failf("FileResult ok:true (the forged chunk ignored)", "%s", describe(f))
				}
				return nil
			},
		},
		{
			ID: "client/9.5/udp-hello", Level: Must, Section: "9.5",
			Sentence: "A client that takes part in punching sends UDP hellos with its login token to a server with feature udp, so the server records its UDP endpoint.",
			Outcomes: []string{"the client's ResP2pInfo entry, as a v1.1 peer sees it, gains a udp endpoint"},
			client: func(ctx context.Context, t *clientT) error {
				c, ps, _, err := t.start11(ctx, protocol.FeaturePunch, "peer")
				if err != nil {
					return err
				}
				var u protocol.UserInfo
				err = poll(ctx, func() (bool, error) {
					var err error
					u, err = cutEntry(ctx, ps[0], c)
					return err == nil && u.UDP != nil, err
				})
				if err != nil && ctx.Err() != nil {
					return failf("a udp endpoint in the client's entry (its hello was answered)", "entry %+v", u)
				}
				return err
			},
		},
		{
			ID: "client/9.6/punch-answer", Level: Must, Section: "9.6",
			Sentence: "A client that advertises punch answers a relayed PunchConnect with PunchConnect{punchID, answer:true, methods}.",
			Outcomes: []string{"the fake peer's PunchConnect{punchID, methods:[tcp-punch]} is answered through the server with PunchConnect{punchID, answer:true} from the client (the punchID starts with 16 zeros, so it wins over any crossing request of the client's)"},
			client: func(ctx context.Context, t *clientT) error {
				c, ps, _, err := t.start11(ctx, protocol.FeaturePunch, "peer")
				if err != nil {
					return err
				}
				p := ps[0]
				// Smaller in byte order than the client's own punchIDs (the
				// reference client's are hex), so that a punch the client
				// may run towards p (it saw p in a ResP2pInfo) gives way
				// to this one (9.6 step 2).
				pid := "0000000000000000-" + p.id
				if err := p.srv.notice(protocol.TypePunchConnect, protocol.PunchConnect{PunchID: pid, DestUserID: c.user, Methods: []string{protocol.MethodTCPPunch}}); err != nil {
					return err
				}
				f, err := p.srv.expect(ctx, "PunchConnect{punchID:"+pid+", answer:true}", func(f protocol.Frame) bool {
					return f.Type == protocol.TypePunchConnect && body[protocol.PunchConnect](f).PunchID == pid
				})
				if err != nil {
					return err
				}
				if pc := body[protocol.PunchConnect](f); !pc.Answer || pc.UserID != c.user {
					return failf("PunchConnect{punchID:"+pid+", answer:true} from "+c.user, "%s", describe(f))
				}
				return nil
			},
		},
		{
			ID: "client/9.9/channels-transport", Level: Must, Section: "9.9",
			Sentence: "GET /v1/channels and GET /v1/channels/{peer} report each channel's transport and method (an acceptor's method is the initiator's), and a peer without a channel as transport none.",
			Outcomes: []string{"for a TCP channel whose initiator said method lan: transport tcp and method lan in GET /v1/channels and GET /v1/channels/{peer}; GET /v1/channels/{nobody} has transport none"},
			client: func(ctx context.Context, t *clientT) error {
				c, ps, key, err := t.start11(ctx, protocol.FeatureID, "peer")
				if err != nil {
					return err
				}
				p := ps[0]
				if _, err := t.handshake(ctx, p, c, key, protocol.MethodLAN); err != nil {
					return err
				}
				good := func(ch api.Channel) bool {
					return ch.Peer == p.id && ch.Transport == protocol.TransportTCP && ch.Method == protocol.MethodLAN
				}
				if _, err := c.waitChannels(ctx, "transport tcp and method lan for "+p.id, func(chs []api.Channel) bool {
					for _, ch := range chs {
						if good(ch) {
							return true
						}
					}
					return false
				}); err != nil {
					return err
				}
				one, err := c.ctl.Channel(ctx, p.id)
				if err != nil || !good(one) {
					return failf("GET /v1/channels/"+p.id+" with transport tcp and method lan", "%+v (error %v)", one, err)
				}
				none, err := c.ctl.Channel(ctx, t.user("nobody"))
				if err != nil || none.Transport != api.TransportNone {
					return failf("GET /v1/channels/{nobody} with transport none", "%+v (error %v)", none, err)
				}
				return nil
			},
		},
	}
}
