package conform

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
)

// tapped is a connection accepted by the checker, read by a session
// through a tap (tap.go).
type tapped struct {
	s   *session
	tap *tapConn
}

// acceptTapped accepts connections on ln until it is closed (by the
// check's cleanup), passing each on as a tapped session. The returned
// channel holds a few; more are closed.
func (t *clientT) acceptTapped(ln net.Listener, name string) <-chan tapped {
	out := make(chan tapped, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := tap(c)
			s := newSession(name, tc)
			t.cl.add(s.Close)
			select {
			case out <- tapped{s: s, tap: tc}:
			default:
				s.Close()
			}
		}
	}()
	t.cl.add(func() { _ = ln.Close(); <-done })
	return out
}

// listenTapped listens on a fresh port of the checker's network (closed
// when the check ends, or before).
func (t *clientT) listenTapped(ctx context.Context, name string) (net.Listener, <-chan tapped, error) {
	ln, err := t.Net.Listen(ctx, netip.AddrPortFrom(t.Net.Addr(), 0))
	if err != nil {
		return nil, nil, fmt.Errorf("conform: %s: listen: %w", name, err)
	}
	return ln, t.acceptTapped(ln, name), nil
}

// next waits for the next connection on ch.
func next(ctx context.Context, ch <-chan tapped, want string) (tapped, error) {
	select {
	case a := <-ch:
		return a, nil
	case <-ctx.Done():
		return tapped{}, failf(want, "no connection before the deadline")
	}
}

// standInClient starts the client under test against a stand-in server
// played by the checker (serveStandIn). It returns once the ResP2pInfo is
// sent and the client's status says online, with the stand-in's later
// connections (a client that logs in again).
func (t *clientT) standInClient(ctx context.Context, others func(self protocol.UserInfo) []protocol.UserInfo) (*cut, tapped, <-chan tapped, error) {
	ln, conns, err := t.listenTapped(ctx, "stand-in server")
	if err != nil {
		return nil, tapped{}, nil, err
	}
	var srv tapped
	c, err := t.startCUTWith(ctx, addrPortOf(ln.Addr()), func(ctx context.Context) error {
		srv, err = serveStandIn(ctx, conns, others)
		return err
	})
	if err != nil {
		return nil, tapped{}, nil, err
	}
	if err := c.waitOnline(ctx); err != nil {
		return nil, tapped{}, nil, err
	}
	return c, srv, conns, nil
}

// serveStandIn plays the server for the client's next connection on
// conns: it answers Login with LoginResult ok (observed = the connection's
// remote endpoint) and GetP2PInfo with the users others returns, given the
// client's own entry.
func serveStandIn(ctx context.Context, conns <-chan tapped, others func(self protocol.UserInfo) []protocol.UserInfo) (tapped, error) {
	var srv tapped
	var f protocol.Frame
	var err error
	for {
		srv, err = next(ctx, conns, "the client connects to its server")
		if err != nil {
			return srv, err
		}
		f, err = srv.s.expect(ctx, "Login", isType(protocol.TypeLogin))
		if err == nil {
			break
		}
		if !srv.s.closed() || ctx.Err() != nil {
			return srv, err
		}
		// A connection closed before its Login: a client may give up a
		// connect (its shared port, 6.1, was not free yet) and make
		// another; the stand-in takes the next.
	}
	obs := protocol.EndpointOf(addrPortOf(srv.s.conn.RemoteAddr()))
	if err := srv.s.send(protocol.MustFrame(protocol.TypeLoginResult, protocol.LoginResult{OK: true, Observed: &obs}).WithRe(f.ID)); err != nil {
		return srv, err
	}
	g, err := srv.s.expect(ctx, "GetP2PInfo", isType(protocol.TypeGetP2PInfo))
	if err != nil {
		return srv, err
	}
	self := protocol.UserInfo{UserID: body[protocol.Login](f).UserID, IP: obs.IP, Port: obs.Port}
	return srv, srv.s.send(protocol.MustFrame(protocol.TypeResP2pInfo, protocol.ResP2pInfo{Users: others(self)}).WithRe(g.ID))
}

// waitOnline polls GET /v1/status until it says online:true.
func (c *cut) waitOnline(ctx context.Context) error {
	var st api.Status
	var lastErr error
	if err := poll(ctx, func() (bool, error) {
		st, lastErr = c.ctl.Status(ctx)
		return lastErr == nil && st.Online, nil
	}); err != nil {
		return failf("GET /v1/status answers online:true", "status %+v, error %v", st, lastErr)
	}
	return nil
}

func userAt(id string, ep netip.AddrPort) protocol.UserInfo {
	e := protocol.EndpointOf(ep)
	return protocol.UserInfo{UserID: id, IP: e.IP, Port: e.Port}
}

// expectSetup waits for the SetupP2PMessage of the client under test on a
// channel it opened.
func expectSetup(ctx context.Context, a tapped, c *cut) error {
	_, err := a.s.expect(ctx, "SetupP2PMessage{userID:"+c.user+"}", func(f protocol.Frame) bool {
		return f.Type == protocol.TypeSetupP2PMessage && body[protocol.SetupP2P](f).UserID == c.user
	})
	return err
}

// stillUp checks that the client under test, having closed the channel of
// p, is up: still online, no longer listing p, and accepting a channel from
// another fake peer (docs/protocol.md 2.4: nothing else on the receiving
// side is affected).
func (t *clientT) stillUp(ctx context.Context, c *cut, p *fakePeer) error {
	if err := c.waitOnline(ctx); err != nil {
		return err
	}
	if _, err := c.waitChannels(ctx, "no longer lists "+p.id, func(chs []api.Channel) bool { return !hasPeer(chs, p.id) }); err != nil {
		return err
	}
	q, err := t.fake(ctx, "other", false)
	if err != nil {
		return err
	}
	if _, err := t.dialChannel(ctx, q, c); err != nil {
		return err
	}
	_, err = c.waitChannels(ctx, "lists a new channel from "+q.id, func(chs []api.Channel) bool { return hasPeer(chs, q.id) })
	return err
}

// badChannelFrame sends raw on an established channel the client accepted
// and expects Error code, the close of that channel, and the client up.
func badChannelFrame(raw []byte, code string) func(ctx context.Context, t *clientT) error {
	return func(ctx context.Context, t *clientT) error {
		c, p, ch, err := t.acceptedChannel(ctx)
		if err != nil {
			return err
		}
		if err := ch.sendRaw(raw); err != nil {
			return err
		}
		if _, err := expectError(ctx, ch, code, 0); err != nil {
			return err
		}
		if err := ch.expectClosed(ctx, "after the client's Error "+code); err != nil {
			return err
		}
		return t.stillUp(ctx, c, p)
	}
}

// moreClientRequirements are the client checks of the normative sentences
// that had none (docs/conformance.md, "Normative index").
func moreClientRequirements() []Requirement {
	oversized := make([]byte, 4)
	binary.BigEndian.PutUint32(oversized, protocol.MaxFrameLen+1)
	return []Requirement{
		{
			ID: "client/2.1/length-limit", Level: Must, Section: "2.1",
			Sentence: "On a P2P channel, a frame whose length prefix exceeds 1,048,576 is answered with Error bad_frame at once (without reading the payload) and that channel is closed; the client stays up.",
			Outcomes: []string{"Error{code:bad_frame} after only the 4-byte prefix was sent on an accepted channel, then close; the client stays online, drops the channel from GET /v1/channels and accepts a channel from another peer"},
			client:   badChannelFrame(oversized, protocol.CodeBadFrame),
		},
		{
			ID: "client/2.4/bad-frame", Level: Must, Section: "2.4",
			Sentence: "On an established P2P channel, a malformed frame is answered with Error bad_frame and that channel is closed; the client stays up.",
			Outcomes: []string{"a payload that is not JSON gets Error{code:bad_frame}, then close; the client stays online, drops the channel and accepts a channel from another peer"},
			client:   badChannelFrame(rawFrame(`this is not {json`), protocol.CodeBadFrame),
		},
		{
			ID: "client/4.2/forbidden-close", Level: Must, Section: "4.2",
			Sentence: "A client that receives a chat message naming another sender on a channel answers Error forbidden and closes that channel.",
			Outcomes: []string{"a ClientChatMessage whose userID is another user gets Error{code:forbidden}, then close; no chat_received event for it; the client stays up"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, ch, err := t.acceptedChannel(ctx)
				if err != nil {
					return err
				}
				m := chat(p.id+"-forged", t.user("someone-else"), c.user, "forged sender")
				if err := ch.notice(protocol.TypeClientChatMessage, m); err != nil {
					return err
				}
				if _, err := expectError(ctx, ch, protocol.CodeForbidden, 0); err != nil {
					return err
				}
				if err := ch.expectClosed(ctx, "after the client's Error forbidden"); err != nil {
					return err
				}
				if err := t.stillUp(ctx, c, p); err != nil {
					return err
				}
				if n := c.countEvents(evType(api.EventChatReceived, func(e api.Event) bool { return e.MessageID == m.MessageID })); n > 0 {
					return failf("no chat_received event for the forged message", "%d", n)
				}
				return nil
			},
		},
		{
			ID: "client/4.1/no-error-answer", Level: Must, Section: "4.1",
			Sentence: "The client does not answer an Error on a P2P channel with an Error; it keeps the channel.",
			Outcomes: []string{"after an Error without id and an Error with re on an accepted channel, a Heartbeat gets HeartbeatAck re=id with no Error before it, and the channel stays listed"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, ch, err := t.acceptedChannel(ctx)
				if err != nil {
					return err
				}
				if err := ch.notice(protocol.TypeError, protocol.Error{Code: protocol.CodeForbidden, Message: "conform: an Error the client must not answer"}); err != nil {
					return err
				}
				if err := ch.send(protocol.MustFrame(protocol.TypeError, protocol.Error{Code: protocol.CodeUnknownType, Message: "conform: a reply to nothing"}).WithRe(77)); err != nil {
					return err
				}
				if err := roundTrip(ctx, ch, "the channel stays open after the peer's Errors"); err != nil {
					return err
				}
				if err := noErrorAnswered(ch, "an Error from the channel's peer"); err != nil {
					return err
				}
				_, err = c.waitChannels(ctx, "still lists "+p.id, func(chs []api.Channel) bool { return hasPeer(chs, p.id) })
				return err
			},
		},
		{
			ID: "client/3.3/any-order", Level: Must, Section: "3.3",
			Sentence: "The client does not rely on the order of the ResP2pInfo entries: it opens a channel to every user listed, in whatever order.",
			Outcomes: []string{"a stand-in server lists the users in descending userID order, the client between the two peers; the client opens a channel to both (SetupP2PMessage on each)"},
			client: func(ctx context.Context, t *clientT) error {
				aa, aaConns, err := t.listenTapped(ctx, t.user("aa")+" (channel from the client)")
				if err != nil {
					return err
				}
				zz, zzConns, err := t.listenTapped(ctx, t.user("zz")+" (channel from the client)")
				if err != nil {
					return err
				}
				c, _, _, err := t.standInClient(ctx, func(self protocol.UserInfo) []protocol.UserInfo {
					return []protocol.UserInfo{userAt(t.user("zz"), addrPortOf(zz.Addr())), self, userAt(t.user("aa"), addrPortOf(aa.Addr()))}
				})
				if err != nil {
					return err
				}
				for _, p := range []struct {
					id    string
					conns <-chan tapped
				}{{t.user("zz"), zzConns}, {t.user("aa"), aaConns}} {
					a, err := next(ctx, p.conns, "the client opens a channel to "+p.id+" (listed out of userID order)")
					if err != nil {
						return err
					}
					a.s.keepAlive(t.Heartbeat / 2)
					if err := expectSetup(ctx, a, c); err != nil {
						return err
					}
				}
				return nil
			},
		},
		{
			ID: "client/5.8/heartbeat-answer", Level: Should, Section: "5.8",
			Sentence: "The client answers its server's Heartbeats with HeartbeatAck, re = their id.",
			Outcomes: []string{"two Heartbeats from a stand-in server get HeartbeatAck re=id each"},
			client: func(ctx context.Context, t *clientT) error {
				_, srv, _, err := t.standInClient(ctx, func(self protocol.UserInfo) []protocol.UserInfo { return []protocol.UserInfo{self} })
				if err != nil {
					return err
				}
				for range 2 {
					if err := roundTrip(ctx, srv.s, "the client answers its server's Heartbeat"); err != nil {
						return err
					}
				}
				return nil
			},
		},
		{
			ID: "client/6.9/resend-relayed", Level: Must, Section: "6.9",
			Sentence: "A chat message sent through the server and not acknowledged when the server connection ends is sent again through the server, with the same messageID, after the next login.",
			Outcomes: []string{"a ChatMessage the stand-in server received and nobody acknowledged arrives again, same messageID, on the client's next server connection after its Login"},
			client: func(ctx context.Context, t *clientT) error {
				peer := t.user("peer")
				// Nothing listens on port 1: no channel, the chat goes
				// through the server.
				others := func(self protocol.UserInfo) []protocol.UserInfo {
					return []protocol.UserInfo{self, userAt(peer, netip.AddrPortFrom(t.Net.Addr(), 1))}
				}
				c, srv, conns, err := t.standInClient(ctx, others)
				if err != nil {
					return err
				}
				resp, err := c.ctl.Chat(ctx, peer, "resend me after the next login")
				if err != nil {
					return failf("POST /v1/chat to "+peer, "%v", err)
				}
				if _, err := srv.s.expect(ctx, "ChatMessage "+resp.MessageID+" to the server", isChat(protocol.TypeChatMessage, resp.MessageID)); err != nil {
					return err
				}
				srv.s.Close() // the server connection ends; the listener stays
				again, err := serveStandIn(ctx, conns, others)
				if err != nil {
					return err
				}
				_, err = again.s.expect(ctx, "ChatMessage "+resp.MessageID+" again after the new login", isChat(protocol.TypeChatMessage, resp.MessageID))
				return err
			},
		},
		{
			ID: "client/2.2/omit-absent", Level: Should, Section: "2.2",
			Sentence: "The client omits absent members rather than writing null, 0 or \"\", in every frame it sends.",
			Outcomes: []string{"no member of what the client sends a stand-in server (Login, GetP2PInfo, a relayed ChatMessage, Heartbeat, HeartbeatAck) or a peer on a channel it opened (SetupP2PMessage, ClientChatMessage, ChatAck, Heartbeat, HeartbeatAck) is null, 0 or \"\""},
			client: func(ctx context.Context, t *clientT) error {
				peer := t.user("peer")
				pe, peerConns, err := t.listenTapped(ctx, peer+" (channel from the client)")
				if err != nil {
					return err
				}
				// A user nobody can dial (port 1 of the checker's address,
				// where nothing listens): chat to it goes through the server.
				gone := netip.AddrPortFrom(t.Net.Addr(), 1)
				c, srv, _, err := t.standInClient(ctx, func(self protocol.UserInfo) []protocol.UserInfo {
					return []protocol.UserInfo{self, userAt(peer, addrPortOf(pe.Addr())), userAt(t.user("relayed"), gone)}
				})
				if err != nil {
					return err
				}
				ch, err := next(ctx, peerConns, "the client opens a channel to "+peer)
				if err != nil {
					return err
				}
				if err := expectSetup(ctx, ch, c); err != nil {
					return err
				}
				m := chat(peer+"-m1", peer, c.user, "omit absent members")
				if err := ch.s.notice(protocol.TypeClientChatMessage, m); err != nil {
					return err
				}
				if _, err := ch.s.expect(ctx, "ChatAck for "+m.MessageID, isAck(m.MessageID, c.user, peer)); err != nil {
					return err
				}
				if err := roundTrip(ctx, ch.s, "HeartbeatAck on the channel"); err != nil {
					return err
				}
				resp, err := c.ctl.Chat(ctx, peer, "over the channel")
				if err != nil {
					return failf("POST /v1/chat to "+peer, "%v", err)
				}
				if _, err := ch.s.expect(ctx, "ClientChatMessage "+resp.MessageID, isChat(protocol.TypeClientChatMessage, resp.MessageID)); err != nil {
					return err
				}
				if _, err := ch.s.expect(ctx, "a Heartbeat from the client on the channel", isType(protocol.TypeHeartbeat)); err != nil {
					return err
				}
				resp, err = c.ctl.Chat(ctx, t.user("relayed"), "through the server")
				if err != nil {
					return failf("POST /v1/chat to "+t.user("relayed"), "%v", err)
				}
				if _, err := srv.s.expect(ctx, "ChatMessage "+resp.MessageID+" to the server", isChat(protocol.TypeChatMessage, resp.MessageID)); err != nil {
					return err
				}
				if err := roundTrip(ctx, srv.s, "HeartbeatAck on the server link"); err != nil {
					return err
				}
				return checkOmitted("the client", srv.tap, ch.tap)
			},
		},
	}
}
