package conform

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"time"

	"github.com/p2plab/p2plab/protocol"
)

// Server checks of protocol version 1.1 (docs/protocol.md section 9). A
// server that does not advertise a feature in its LoginResult to a v1.1
// Login gets the verdict unsupported for that feature's requirements.

// v11Members are the members version 1.1 adds to LoginResult, ResP2pInfo
// entries and UserStateNotify (docs/protocol.md 9.1).
var v11Members = []string{"features", "token", "heartbeat", "misses", "key", "local", "udp"}

// login11 logs user in as a v1.1 client with features and a fresh Ed25519
// key, and fails unless LoginResult ok arrives.
func (t *serverT) login11(ctx context.Context, user string, features ...string) (*session, protocol.LoginResult, error) {
	s, err := t.dial(ctx, user)
	if err != nil {
		return nil, protocol.LoginResult{}, err
	}
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, protocol.LoginResult{}, fmt.Errorf("conform: key: %w", err)
	}
	local := protocol.EndpointOf(s.local())
	if features == nil {
		features = []string{}
	}
	lg := protocol.Login{UserID: user, UserName: "conform " + user, Features: features, Key: protocol.EncodeKey(pub), Local: &local}
	if _, err := s.request(protocol.TypeLogin, lg); err != nil {
		return nil, protocol.LoginResult{}, err
	}
	f, err := s.expect(ctx, "LoginResult", isLoginAnswer)
	if err != nil {
		return nil, protocol.LoginResult{}, err
	}
	lr := body[protocol.LoginResult](f)
	if f.Type != protocol.TypeLoginResult || !lr.OK {
		return nil, lr, failf(fmt.Sprintf("LoginResult ok:true for a fresh valid v1.1 user %q", user), "%s", describe(f))
	}
	return s, lr, nil
}

// FeatureAny stands for "some v1.1 feature" in an unsupported verdict: the
// requirement binds every v1.1 program, and the target advertises none.
const FeatureAny = "v1.1"

// serverFeature fails as unsupported unless the server's LoginResult lists
// feature f.
func serverFeature(lr protocol.LoginResult, f string) error {
	if !protocol.Has(lr.Features, f) {
		return unsupportedf(f, "the server's LoginResult to a v1.1 Login lists features %q, not %q", lr.Features, f)
	}
	return nil
}

// logins11 logs in v1.1 users with features id and punch, returning their
// sessions and LoginResults; it fails as unsupported unless the server
// advertises need.
func (t *serverT) logins11(ctx context.Context, need string, names ...string) ([]*session, []protocol.LoginResult, error) {
	ss := make([]*session, len(names))
	lrs := make([]protocol.LoginResult, len(names))
	for i, n := range names {
		s, lr, err := t.login11(ctx, t.user(n), protocol.FeatureID, protocol.FeaturePunch)
		if err != nil {
			return nil, nil, err
		}
		if i == 0 && need != "" {
			if err := serverFeature(lr, need); err != nil {
				return nil, nil, err
			}
		}
		ss[i], lrs[i] = s, lr
	}
	return ss, lrs, nil
}

// v11In names the version 1.1 members present in a JSON object.
func v11In(raw []byte) []string {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(raw, &m)
	var out []string
	for _, k := range v11Members {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// entryOf returns user's entry in a ResP2pInfo, with its raw JSON.
func entryOf(f protocol.Frame, user string) (protocol.UserInfo, []byte, bool) {
	var b struct {
		Users []json.RawMessage `json:"users"`
	}
	_ = json.Unmarshal(f.Body, &b)
	for _, raw := range b.Users {
		u := decodeJSON[protocol.UserInfo](raw)
		if u.UserID == user {
			return u, raw, true
		}
	}
	return protocol.UserInfo{}, nil, false
}

// p2pInfo sends GetP2PInfo and returns the ResP2pInfo frame.
func p2pInfo(ctx context.Context, s *session) (protocol.Frame, error) {
	id, err := s.request(protocol.TypeGetP2PInfo, nil)
	if err != nil {
		return protocol.Frame{}, err
	}
	return s.expect(ctx, fmt.Sprintf("ResP2pInfo re=%d", id), isReply(protocol.TypeResP2pInfo, id))
}

// udpSocket opens a UDP socket on the IP address s connects from, where
// the checker's sockets belong, closed when the check ends.
func (t *serverT) udpSocket(ctx context.Context, s *session) (*net.UDPConn, error) {
	var u *net.UDPConn
	open := func() error {
		var err error
		u, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.local().Addr(), 0)))
		return err
	}
	var err error
	if t.In != nil {
		err = t.In(ctx, open)
	} else {
		err = open()
	}
	if err != nil {
		return nil, fmt.Errorf("conform: UDP socket: %w", err)
	}
	t.cl.add(func() { u.Close() })
	return u, nil
}

// udpLocal is u's local endpoint.
func udpLocal(u *net.UDPConn) netip.AddrPort {
	ap := u.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// sendHello sends one UDPHello datagram to the server's UDP port (the
// port number of its TCP listener, docs/protocol.md 9.5).
func (t *serverT) sendHello(u *net.UDPConn, h protocol.UDPHello) error {
	b, err := protocol.MarshalDatagram(protocol.MustFrame(protocol.TypeUDPHello, h))
	if err != nil {
		return err
	}
	if _, err := u.WriteToUDPAddrPort(b, t.Addr); err != nil {
		return fmt.Errorf("conform: UDP hello: %w", err)
	}
	return nil
}

// helloUntilAck sends good every 250 ms (as a client does, 9.5) until the
// UDPHelloAck of its seq arrives on u, and returns it. An ack for any seq
// in refused fails: those hellos must have been ignored.
func (t *serverT) helloUntilAck(ctx context.Context, u *net.UDPConn, good protocol.UDPHello, refused ...int64) (protocol.UDPHelloAck, error) {
	buf := make([]byte, 2048)
	next := time.Now()
	for {
		if ctx.Err() != nil {
			return protocol.UDPHelloAck{}, failf(fmt.Sprintf("UDPHelloAck{seq:%d} to %s", good.Seq, udpLocal(u)), "no answer to UDPHello{userID:%s, seq:%d} sent every 250ms to %s before the deadline", good.UserID, good.Seq, t.Addr)
		}
		if !time.Now().Before(next) {
			if err := t.sendHello(u, good); err != nil {
				return protocol.UDPHelloAck{}, err
			}
			next = time.Now().Add(250 * time.Millisecond)
		}
		dl := next
		if d, ok := ctx.Deadline(); ok && d.Before(dl) {
			dl = d
		}
		_ = u.SetReadDeadline(dl)
		n, _, err := u.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			return protocol.UDPHelloAck{}, fmt.Errorf("conform: UDP read: %w", err)
		}
		f, err := protocol.UnmarshalDatagram(buf[:n])
		if err != nil || f.Type != protocol.TypeUDPHelloAck {
			continue
		}
		a := body[protocol.UDPHelloAck](f)
		if slices.Contains(refused, a.Seq) {
			return a, failf(fmt.Sprintf("no answer to the hello of seq %d (it must be ignored)", a.Seq), "UDPHelloAck %s", string(f.Body))
		}
		if a.Seq == good.Seq {
			return a, nil
		}
	}
}

var tokenRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// otherToken is a well-formed token that differs from tok.
func otherToken(tok string) string {
	if len(tok) > 0 && tok[0] == '0' {
		return "1" + tok[1:]
	}
	if len(tok) > 0 {
		return "0" + tok[1:]
	}
	return "00000000000000000000000000000000"
}

// refusedHellos sends the hellos a server must ignore, three times each
// (a datagram may be lost), then the marker good hello until it is
// acknowledged: an ack for a refused hello fails.
func (t *serverT) refusedHellos(ctx context.Context, u *net.UDPConn, good protocol.UDPHello, bad ...protocol.UDPHello) error {
	var seqs []int64
	for range 3 {
		for _, h := range bad {
			if err := t.sendHello(u, h); err != nil {
				return err
			}
		}
	}
	for _, h := range bad {
		seqs = append(seqs, h.Seq)
	}
	_, err := t.helloUntilAck(ctx, u, good, seqs...)
	return err
}

func v11ServerRequirements() []Requirement {
	return []Requirement{
		{
			ID: "server/9.1/v1-frames", Level: Must, Section: "9.1",
			Sentence: "A v1 client (a Login without features) receives no v1.1 member in LoginResult, ResP2pInfo or UserStateNotify, even about v1.1 users.",
			Outcomes: []string{"the v1 user's LoginResult, its ResP2pInfo entry for a v1.1 user, and the UserStateNotify online for a v1.1 newcomer (when it comes) carry none of features, token, heartbeat, misses, key, local, udp"},
			server: func(ctx context.Context, t *serverT) error {
				if _, _, err := t.login11(ctx, t.user("b"), protocol.FeatureID, protocol.FeaturePunch); err != nil {
					return err
				}
				a, err := t.dial(ctx, t.user("a"))
				if err != nil {
					return err
				}
				if _, err := a.request(protocol.TypeLogin, protocol.Login{UserID: t.user("a")}); err != nil {
					return err
				}
				f, err := a.expect(ctx, "LoginResult", isLoginAnswer)
				if err != nil {
					return err
				}
				if m := v11In(f.Body); len(m) > 0 || !body[protocol.LoginResult](f).OK {
					return failf("LoginResult ok:true without v1.1 members to a v1 Login", "%s (v1.1 members %v)", describe(f), m)
				}
				if _, _, err := t.login11(ctx, t.user("c"), protocol.FeatureID, protocol.FeaturePunch); err != nil {
					return err
				}
				// The notify for c was queued before c's LoginResult, so before
				// the answer to this GetP2PInfo: it is here if it comes at all.
				info, err := p2pInfo(ctx, a)
				if err != nil {
					return err
				}
				_, raw, ok := entryOf(info, t.user("b"))
				if m := v11In(raw); !ok || len(m) > 0 {
					return failf("the v1 user's ResP2pInfo entry for v1.1 user b without v1.1 members", "%s (v1.1 members %v)", describe(info), m)
				}
				for _, n := range a.find(isStateNotify(t.user("c"), true)) {
					if m := v11In(n.Body); len(m) > 0 {
						return failf("UserStateNotify online for v1.1 user c without v1.1 members to the v1 user", "%s (v1.1 members %v)", describe(n), m)
					}
				}
				return nil
			},
		},
		{
			ID: "server/9.1/login-result", Level: Must, Section: "9.1",
			Sentence: "A v1.1 server answers a v1.1 Login with its features, its heartbeat and misses and, with feature udp, a token of 32 lower-case hex digits.",
			Outcomes: []string{"LoginResult{ok:true} lists valid features, heartbeat > 0 and misses > 0, and (with udp) a token matching [0-9a-f]{32}"},
			server: func(ctx context.Context, t *serverT) error {
				_, lr, err := t.login11(ctx, t.user("a"), protocol.FeatureID, protocol.FeaturePunch)
				if err != nil {
					return err
				}
				if len(lr.Features) == 0 {
					return unsupportedf(FeatureAny, "the server's LoginResult to a v1.1 Login lists no features: a version 1 server")
				}
				for _, f := range lr.Features {
					if !protocol.ValidFeature(f) {
						return failf("features of 1-32 of a-z0-9-", "feature %q in %+v", f, lr)
					}
				}
				if lr.HeartbeatMS <= 0 || lr.Misses <= 0 {
					return failf("heartbeat > 0 and misses > 0 in the LoginResult", "%+v", lr)
				}
				if protocol.Has(lr.Features, protocol.FeatureUDP) && !tokenRe.MatchString(lr.Token) {
					return failf("a token of 32 lower-case hex digits with feature udp", "token %q", lr.Token)
				}
				return nil
			},
		},
		{
			ID: "server/9.1/bad-key", Level: Must, Section: "9.1",
			Sentence: "A Login whose key is not the base64 of 32 bytes is refused with bad_frame and the connection is closed.",
			Outcomes: []string{"LoginResult{ok:false, error:bad_frame} (and Error bad_frame), then close"},
			server: func(ctx context.Context, t *serverT) error {
				if _, lr, err := t.login11(ctx, t.user("probe"), protocol.FeatureID); err != nil {
					return err
				} else if err := serverFeature(lr, protocol.FeatureID); err != nil {
					return err
				}
				s, err := t.dial(ctx, "bad key")
				if err != nil {
					return err
				}
				if _, err := s.request(protocol.TypeLogin, protocol.Login{UserID: t.user("a"), Features: []string{protocol.FeatureID}, Key: "bm90IGEga2V5"}); err != nil {
					return err
				}
				f, err := s.expect(ctx, "LoginResult", isLoginAnswer)
				if err != nil {
					return err
				}
				lr := body[protocol.LoginResult](f)
				if !(f.Type == protocol.TypeLoginResult && !lr.OK && lr.Error == protocol.CodeBadFrame) && !(f.Type == protocol.TypeError && body[protocol.Error](f).Code == protocol.CodeBadFrame) {
					return failf("LoginResult{ok:false, error:bad_frame}", "%s", describe(f))
				}
				return s.expectClosed(ctx, "after a Login with a bad key")
			},
		},
		{
			ID: "server/9.3/key-distribution", Level: Must, Section: "9.3",
			Sentence: "The server hands each v1.1 user's key and features to v1.1 clients with its entry in ResP2pInfo and in UserStateNotify online.",
			Outcomes: []string{"a's ResP2pInfo entry for b, and the UserStateNotify online for b (when it comes), carry b's key and features as b logged in with them"},
			server: func(ctx context.Context, t *serverT) error {
				ss, _, err := t.logins11(ctx, protocol.FeatureID, "a")
				if err != nil {
					return err
				}
				a := ss[0]
				b, err := t.dial(ctx, t.user("b"))
				if err != nil {
					return err
				}
				pub, _, _ := ed25519.GenerateKey(nil)
				key := protocol.EncodeKey(pub)
				feats := []string{protocol.FeatureID, "conform-extra"}
				if _, err := b.request(protocol.TypeLogin, protocol.Login{UserID: t.user("b"), Features: feats, Key: key}); err != nil {
					return err
				}
				if f, err := b.expect(ctx, "LoginResult", isLoginAnswer); err != nil {
					return err
				} else if !body[protocol.LoginResult](f).OK {
					return failf("LoginResult ok:true for b", "%s", describe(f))
				}
				info, err := p2pInfo(ctx, a)
				if err != nil {
					return err
				}
				good := func(p protocol.Peer11) bool { return p.Key == key && slices.Equal(p.Features, feats) }
				if u, _, ok := entryOf(info, t.user("b")); !ok || !good(u.Peer11) {
					return failf(fmt.Sprintf("a's ResP2pInfo entry for b with key %s and features %v", key, feats), "%s", describe(info))
				}
				for _, n := range a.find(isStateNotify(t.user("b"), true)) {
					if !good(body[protocol.UserStateNotify](n).Peer11) {
						return failf(fmt.Sprintf("UserStateNotify online for b with key %s and features %v", key, feats), "%s", describe(n))
					}
				}
				return nil
			},
		},
		{
			ID: "server/9.5/udp-hello", Level: Must, Section: "9.5",
			Sentence: "A UDPHello with the session's token is answered with UDPHelloAck{seq, observed: its source}, and the source is handed out as the user's udp endpoint.",
			Outcomes: []string{"UDPHelloAck{seq, observed = the hello's source} on the server's TCP port number; b's ResP2pInfo entry for a then has udp = that source"},
			server: func(ctx context.Context, t *serverT) error {
				ss, lrs, err := t.logins11(ctx, protocol.FeatureUDP, "a", "b")
				if err != nil {
					return err
				}
				u, err := t.udpSocket(ctx, ss[0])
				if err != nil {
					return err
				}
				ack, err := t.helloUntilAck(ctx, u, protocol.UDPHello{UserID: t.user("a"), Token: lrs[0].Token, Seq: 1})
				if err != nil {
					return err
				}
				src := udpLocal(u)
				if ep, ok := ack.Observed.AddrPort(); !ok || ep != src {
					return failf("UDPHelloAck observed = "+src.String(), "%+v", ack)
				}
				var last protocol.Frame
				err = poll(ctx, func() (bool, error) {
					var err error
					if last, err = p2pInfo(ctx, ss[1]); err != nil {
						return false, err
					}
					e, _, _ := entryOf(last, t.user("a"))
					return e.UDP != nil && *e.UDP == protocol.EndpointOf(src), nil
				})
				if err != nil && ctx.Err() != nil {
					return failf("b's ResP2pInfo entry for a with udp "+src.String(), "%s", describe(last))
				}
				return err
			},
		},
		{
			ID: "server/9.5/udp-wrong-token", Level: Must, Section: "9.5",
			Sentence: "A UDPHello with a wrong token is ignored: no answer, and the endpoint is not recorded.",
			Outcomes: []string{"no UDPHelloAck for a hello with another well-formed token (checked by a later hello with the right token being answered first)"},
			server: func(ctx context.Context, t *serverT) error {
				ss, lrs, err := t.logins11(ctx, protocol.FeatureUDP, "a")
				if err != nil {
					return err
				}
				u, err := t.udpSocket(ctx, ss[0])
				if err != nil {
					return err
				}
				bad := protocol.UDPHello{UserID: t.user("a"), Token: otherToken(lrs[0].Token), Seq: 1}
				return t.refusedHellos(ctx, u, protocol.UDPHello{UserID: t.user("a"), Token: lrs[0].Token, Seq: 2}, bad)
			},
		},
		{
			ID: "server/9.5/udp-not-logged-in", Level: Must, Section: "9.5",
			Sentence: "A UDPHello for a user who is not logged in is ignored, whatever token it carries.",
			Outcomes: []string{"no UDPHelloAck for a hello naming an offline user with a logged-in user's token (checked by a later good hello being answered first)"},
			server: func(ctx context.Context, t *serverT) error {
				ss, lrs, err := t.logins11(ctx, protocol.FeatureUDP, "a")
				if err != nil {
					return err
				}
				u, err := t.udpSocket(ctx, ss[0])
				if err != nil {
					return err
				}
				bad := protocol.UDPHello{UserID: t.user("ghost"), Token: lrs[0].Token, Seq: 1}
				return t.refusedHellos(ctx, u, protocol.UDPHello{UserID: t.user("a"), Token: lrs[0].Token, Seq: 2}, bad)
			},
		},
		{
			ID: "server/9.10/udp-rejected-counted", Level: Should, Section: "9.10",
			Sentence: "Ignored UDP hellos (wrong token, not logged in) are counted as udpHellosRejected in the admin stats.",
			Outcomes: []string{"after 2 wrong-token and 2 not-logged-in hellos, GET /v1/stats totals.udpHellosRejected grew by at least 4"},
			server: func(ctx context.Context, t *serverT) error {
				adm, err := t.admin()
				if err != nil {
					return err
				}
				ss, lrs, err := t.logins11(ctx, protocol.FeatureUDP, "a")
				if err != nil {
					return err
				}
				before, err := adm.Stats(ctx)
				if err != nil {
					return err
				}
				u, err := t.udpSocket(ctx, ss[0])
				if err != nil {
					return err
				}
				a := t.user("a")
				for i := range 2 {
					for _, h := range []protocol.UDPHello{{UserID: a, Token: otherToken(lrs[0].Token), Seq: int64(10 + i)}, {UserID: t.user("ghost"), Token: lrs[0].Token, Seq: int64(20 + i)}} {
						if err := t.sendHello(u, h); err != nil {
							return err
						}
					}
				}
				if _, err := t.helloUntilAck(ctx, u, protocol.UDPHello{UserID: a, Token: lrs[0].Token, Seq: 30}); err != nil {
					return err
				}
				var got int64
				err = poll(ctx, func() (bool, error) {
					st, err := adm.Stats(ctx)
					got = st.Totals.UDPHellosRejected
					return err == nil && got >= before.Totals.UDPHellosRejected+4, nil
				})
				if err != nil && ctx.Err() != nil {
					return failf(fmt.Sprintf("udpHellosRejected >= %d", before.Totals.UDPHellosRejected+4), "%d", got)
				}
				return err
			},
		},
		{
			ID: "server/9.6/punch-relay", Level: Must, Section: "9.6",
			Sentence: "PunchConnect and PunchSync are relayed between users that advertise punch, the sender enforced and the endpoints of a PunchConnect replaced with the server's own records of the sender.",
			Outcomes: []string{"b receives a's PunchConnect with userID a and tcp = a's observed endpoint (not the bogus one a wrote); a receives b's answer likewise; b receives a's PunchSync with userID a"},
			server: func(ctx context.Context, t *serverT) error {
				ss, _, err := t.logins11(ctx, protocol.FeaturePunch, "a", "b")
				if err != nil {
					return err
				}
				a, b := ss[0], ss[1]
				ua, ub := t.user("a"), t.user("b")
				pid := t.user("punch")
				bogus := protocol.Endpoint{IP: "192.0.2.1", Port: 9}
				methods := []string{protocol.MethodTCPPunch, protocol.MethodUDPPunch}
				// The checker reaches the server without NAT (as in 5.1): a
				// sender's observed endpoint is its session's local one.
				relayed := func(to *session, from string, sender *session, answer bool) error {
					f, err := to.expect(ctx, "PunchConnect "+pid, func(f protocol.Frame) bool {
						return f.Type == protocol.TypePunchConnect && body[protocol.PunchConnect](f).PunchID == pid && body[protocol.PunchConnect](f).Answer == answer
					})
					if err != nil {
						return err
					}
					pc := body[protocol.PunchConnect](f)
					if obs := protocol.EndpointOf(sender.local()); pc.UserID != from || pc.TCP == nil || *pc.TCP != obs {
						return failf(fmt.Sprintf("PunchConnect with userID %s and tcp %s (its observed endpoint)", from, sender.local()), "%s", describe(f))
					}
					return nil
				}
				if err := a.notice(protocol.TypePunchConnect, protocol.PunchConnect{PunchID: pid, UserID: ua, DestUserID: ub, Methods: methods, TCP: &bogus, UDP: &bogus}); err != nil {
					return err
				}
				if err := relayed(b, ua, a, false); err != nil {
					return err
				}
				if err := b.notice(protocol.TypePunchConnect, protocol.PunchConnect{PunchID: pid, DestUserID: ua, Answer: true, Methods: methods, TCP: &bogus}); err != nil {
					return err
				}
				if err := relayed(a, ub, b, true); err != nil {
					return err
				}
				if err := a.notice(protocol.TypePunchSync, protocol.PunchSync{PunchID: pid, UserID: ua, DestUserID: ub, Methods: methods}); err != nil {
					return err
				}
				f, err := b.expect(ctx, "PunchSync "+pid, func(f protocol.Frame) bool {
					return f.Type == protocol.TypePunchSync && body[protocol.PunchSync](f).PunchID == pid
				})
				if err != nil {
					return err
				}
				if body[protocol.PunchSync](f).UserID != ua {
					return failf("PunchSync with userID "+ua, "%s", describe(f))
				}
				return nil
			},
		},
		{
			ID: "server/9.6/punch-forged", Level: Must, Section: "9.6",
			Sentence: "A PunchConnect that claims another sender is refused with Error forbidden and is not forwarded.",
			Outcomes: []string{"a gets Error{code:forbidden} re=id and its connection stays open; b never receives the forged PunchConnect (checked by a later PunchSync from c arriving first)"},
			server: func(ctx context.Context, t *serverT) error {
				ss, _, err := t.logins11(ctx, protocol.FeaturePunch, "a", "b", "c")
				if err != nil {
					return err
				}
				a, b, c := ss[0], ss[1], ss[2]
				forged := t.user("forged")
				id, err := a.request(protocol.TypePunchConnect, protocol.PunchConnect{PunchID: forged, UserID: t.user("c"), DestUserID: t.user("b"), Methods: []string{protocol.MethodTCPPunch}})
				if err != nil {
					return err
				}
				if _, err := expectError(ctx, a, protocol.CodeForbidden, id); err != nil {
					return err
				}
				if err := roundTrip(ctx, a, "the connection stays open after forbidden"); err != nil {
					return err
				}
				marker := t.user("marker")
				if err := c.notice(protocol.TypePunchSync, protocol.PunchSync{PunchID: marker, DestUserID: t.user("b")}); err != nil {
					return err
				}
				isPunch := func(pid string) func(protocol.Frame) bool {
					return func(f protocol.Frame) bool {
						return protocol.PunchRelayable(f.Type) && body[protocol.PunchConnect](f).PunchID == pid
					}
				}
				if _, err := b.expect(ctx, "the marker PunchSync from c", isPunch(marker)); err != nil {
					return err
				}
				if got := b.find(isPunch(forged)); len(got) > 0 {
					return failf("the forged PunchConnect not forwarded to b", "b received %s", describe(got[0]))
				}
				return nil
			},
		},
		{
			ID: "server/9.6/punch-v1-dest", Level: Must, Section: "9.6",
			Sentence: "A PunchConnect for a destination that did not advertise punch is refused with Error unsupported naming the punchID, the connection stays open, and the destination never receives it.",
			Outcomes: []string{"a gets Error{code:unsupported, punchID} re=id and a HeartbeatAck after it; the v1 user b receives a's later chat and no PunchConnect"},
			server: func(ctx context.Context, t *serverT) error {
				ss, _, err := t.logins11(ctx, protocol.FeaturePunch, "a")
				if err != nil {
					return err
				}
				a := ss[0]
				b, err := t.login(ctx, t.user("b"))
				if err != nil {
					return err
				}
				pid := t.user("punch")
				id, err := a.request(protocol.TypePunchConnect, protocol.PunchConnect{PunchID: pid, DestUserID: t.user("b"), Methods: []string{protocol.MethodTCPPunch}})
				if err != nil {
					return err
				}
				f, err := expectError(ctx, a, protocol.CodeUnsupported, id)
				if err != nil {
					return err
				}
				if body[protocol.Error](f).PunchID != pid {
					return failf("Error unsupported with punchID "+pid, "%s", describe(f))
				}
				if err := roundTrip(ctx, a, "the connection stays open after unsupported"); err != nil {
					return err
				}
				m := chat(t.user("m1"), t.user("a"), t.user("b"), "after the punch")
				if err := a.notice(protocol.TypeChatMessage, m); err != nil {
					return err
				}
				if _, err := b.expect(ctx, "a's chat after the refused PunchConnect", isChat(protocol.TypeChatMessage, m.MessageID)); err != nil {
					return err
				}
				if got := b.find(isType(protocol.TypePunchConnect)); len(got) > 0 {
					return failf("no PunchConnect to the v1 user", "b received %s", describe(got[0]))
				}
				return nil
			},
		},
	}
}
