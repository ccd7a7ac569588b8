package conform

import (
	"context"
	"fmt"

	"github.com/p2plab/p2plab/protocol"
)

// tappedLogin dials the server with a tapped connection (tap.go) and logs
// in as user.
func (t *serverT) tappedLogin(ctx context.Context, user string) (*session, *tapConn, error) {
	c, err := t.rawConn(ctx, user, 0)
	if err != nil {
		return nil, nil, err
	}
	tc := tap(c)
	s := newSession(user, tc)
	t.cl.add(s.Close)
	s, err = t.loginOn(ctx, s, user)
	return s, tc, err
}

// noErrorAnswered fails if s received an Error: run it after a round trip
// that followed the frames that must not be answered with one, so that an
// answer would have arrived before the HeartbeatAck.
func noErrorAnswered(s *session, what string) error {
	if got := s.find(isError); len(got) > 0 {
		return failf(what+" is not answered with an Error (docs/protocol.md 4.1)", "%s", describe(got[0]))
	}
	return nil
}

// badSenderCheck sends a ChatMessage whose userID is the JSON value sender
// (not a string) and expects Error bad_frame, the close, and nothing
// forwarded (docs/protocol.md 2.2, 5.5).
func badSenderCheck(sender string) func(ctx context.Context, t *serverT) error {
	return func(ctx context.Context, t *serverT) error {
		ss, err := t.logins(ctx, "b")
		if err != nil {
			return err
		}
		payload := fmt.Sprintf(`{"type":"ChatMessage","body":{"messageID":"x","userID":%s,"destUserID":%q,"content":"x"}}`, sender, t.user("b"))
		if err := badFrameCheck(rawFrame(payload), protocol.CodeBadFrame, 0)(ctx, t); err != nil {
			return err
		}
		if got := ss[0].find(isType(protocol.TypeChatMessage)); len(got) > 0 {
			return failf("nothing forwarded to b", "%s", describe(got[0]))
		}
		return nil
	}
}

// moreServerRequirements are the server checks of the normative sentences
// that had none (docs/conformance.md, "Normative index").
func moreServerRequirements() []Requirement {
	return []Requirement{
		{
			ID: "server/2.2/omit-absent", Level: Should, Section: "2.2",
			Sentence: "The server omits absent members rather than writing null, 0 or \"\", in every frame it sends.",
			Outcomes: []string{"no member of LoginResult (ok and refused), ResP2pInfo, UserStateNotify (online and offline), HeartbeatAck, the server's Heartbeat, a relayed ChatMessage or an Error is null, 0 or \"\" (FileChunk offset and FileOffer size excepted)"},
			server: func(ctx context.Context, t *serverT) error {
				a, ta, err := t.tappedLogin(ctx, t.user("a"))
				if err != nil {
					return err
				}
				b, tb, err := t.tappedLogin(ctx, t.user("b"))
				if err != nil {
					return err
				}
				if _, err := a.expect(ctx, "UserStateNotify online for b", isStateNotify(t.user("b"), true)); err != nil {
					return err
				}
				if _, err := listUsers(ctx, a); err != nil {
					return err
				}
				m := chat(t.user("a")+"-m1", t.user("a"), t.user("b"), "omit absent members")
				if err := a.notice(protocol.TypeChatMessage, m); err != nil {
					return err
				}
				if _, err := b.expect(ctx, "the relayed ChatMessage", isChat(protocol.TypeChatMessage, m.MessageID)); err != nil {
					return err
				}
				if _, err := a.request(protocol.TypeChatMessage, chat(t.user("a")+"-m2", t.user("a"), t.user("nobody"), "x")); err != nil {
					return err
				}
				if _, err := expectError(ctx, a, protocol.CodeUserOffline, 0); err != nil {
					return err
				}
				if t.Heartbeat > 0 {
					if _, err := b.expect(ctx, "a Heartbeat from the server", isType(protocol.TypeHeartbeat)); err != nil {
						return err
					}
				}
				if err := b.notice(protocol.TypeLogout, nil); err != nil {
					return err
				}
				if _, err := a.expect(ctx, "UserStateNotify offline for b", isStateNotify(t.user("b"), false)); err != nil {
					return err
				}
				if err := roundTrip(ctx, a, "HeartbeatAck"); err != nil {
					return err
				}
				// A refused Login: LoginResult{ok:false} and the Error.
				r, err := t.rawConn(ctx, "refused", 0)
				if err != nil {
					return err
				}
				tr := tap(r)
				rs := newSession("refused", tr)
				t.cl.add(rs.Close)
				if _, err := rs.request(protocol.TypeLogin, protocol.Login{UserID: "not a valid id!"}); err != nil {
					return err
				}
				if _, err := rs.expect(ctx, "a refusal of the Login", isLoginAnswer); err != nil {
					return err
				}
				// Whatever else the refusal sends comes before the close.
				if err := rs.expectClosed(ctx, "after refusing the Login"); err != nil {
					return err
				}
				return checkOmitted("the server", ta, tb, tr)
			},
		},
		{
			ID: "server/4.1/no-error-answer", Level: Must, Section: "4.1",
			Sentence: "The server does not answer an Error from a client with an Error; it keeps the connection.",
			Outcomes: []string{"after an Error without id and an Error with re, a Heartbeat gets HeartbeatAck re=id with no Error before it, and the connection stays open"},
			server: func(ctx context.Context, t *serverT) error {
				s, err := t.login(ctx, t.user("a"))
				if err != nil {
					return err
				}
				if err := s.notice(protocol.TypeError, protocol.Error{Code: protocol.CodeBadFrame, Message: "conform: an Error the server must not answer"}); err != nil {
					return err
				}
				f := protocol.MustFrame(protocol.TypeError, protocol.Error{Code: protocol.CodeUnknownType, Message: "conform: a reply to nothing"}).WithRe(77)
				if err := s.send(f); err != nil {
					return err
				}
				if err := roundTrip(ctx, s, "the connection stays open after the client's Errors"); err != nil {
					return err
				}
				return noErrorAnswered(s, "an Error from a client")
			},
		},
		{
			ID: "server/5.5/sender-null", Level: Must, Section: "5.5",
			Sentence: "A relayable frame whose userID is null is malformed (null is a non-string sender here, not an absent one): Error bad_frame and the connection is closed.",
			Outcomes: []string{`a ChatMessage with "userID":null gets Error{code:bad_frame}, then close; nothing is forwarded`},
			server:   badSenderCheck("null"),
		},
	}
}
