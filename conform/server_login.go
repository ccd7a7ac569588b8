package conform

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/p2plab/p2plab/protocol"
)

// isLoginAnswer matches a LoginResult or an Error.
func isLoginAnswer(f protocol.Frame) bool {
	return f.Type == protocol.TypeLoginResult || f.Type == protocol.TypeError
}

// refused reports whether f refuses a login with code, in either accepted
// form: LoginResult{ok:false, error:code} or Error{code}.
func refused(f protocol.Frame, code string) bool {
	switch f.Type {
	case protocol.TypeLoginResult:
		lr := body[protocol.LoginResult](f)
		return !lr.OK && lr.Error == code
	case protocol.TypeError:
		return body[protocol.Error](f).Code == code
	}
	return false
}

// listUsers sends GetP2PInfo and returns the ResP2pInfo answering it.
func listUsers(ctx context.Context, s *session) ([]protocol.UserInfo, error) {
	id, err := s.request(protocol.TypeGetP2PInfo, nil)
	if err != nil {
		return nil, err
	}
	f, err := s.expect(ctx, fmt.Sprintf("ResP2pInfo re=%d", id), isReply(protocol.TypeResP2pInfo, id))
	if err != nil {
		return nil, err
	}
	return body[protocol.ResP2pInfo](f).Users, nil
}

// hasUser reports whether users lists id at endpoint s's local address.
func hasUser(users []protocol.UserInfo, id string, s *session) bool {
	for _, u := range users {
		if u.UserID == id {
			l := s.local()
			return u.IP == l.Addr().String() && u.Port == int(l.Port())
		}
	}
	return false
}

func loginRequirements() []Requirement {
	return []Requirement{
		{
			ID: "server/5.1/login-reply", Level: Must, Section: "5.1",
			Sentence: "A Login for a fresh valid userID is answered with LoginResult ok:true whose re is the Login's id.",
			Outcomes: []string{"LoginResult{ok:true} re=id"},
			server: func(ctx context.Context, t *serverT) error {
				s, err := t.dial(ctx, "a")
				if err != nil {
					return err
				}
				id, err := s.request(protocol.TypeLogin, protocol.Login{UserID: t.user("a")})
				if err != nil {
					return err
				}
				f, err := s.expect(ctx, "LoginResult", isLoginAnswer)
				if err != nil {
					return err
				}
				if f.Type != protocol.TypeLoginResult || !body[protocol.LoginResult](f).OK || f.Re != id {
					return failf(fmt.Sprintf("LoginResult{ok:true} re=%d", id), "%s", describe(f))
				}
				return nil
			},
		},
		{
			ID: "server/5.1/observed", Level: Must, Section: "5.1",
			Sentence: "LoginResult.observed is the client's endpoint as the server observes it (the remote address of the connection).",
			Outcomes: []string{"observed{ip,port} equals the checker's local address of the connection"},
			server: func(ctx context.Context, t *serverT) error {
				s, err := t.dial(ctx, "a")
				if err != nil {
					return err
				}
				if _, err := s.request(protocol.TypeLogin, protocol.Login{UserID: t.user("a")}); err != nil {
					return err
				}
				f, err := s.expect(ctx, "LoginResult", isLoginAnswer)
				if err != nil {
					return err
				}
				lr := body[protocol.LoginResult](f)
				want := protocol.EndpointOf(s.local())
				if !lr.OK || lr.Observed == nil || *lr.Observed != want {
					return failf(fmt.Sprintf("LoginResult ok:true observed={ip:%s port:%d}", want.IP, want.Port), "%s", describe(f))
				}
				return nil
			},
		},
		{
			ID: "server/5.1/login-first", Level: Must, Section: "5.1",
			Sentence: "Login must be the first frame: any other frame before it is refused with Error not_logged_in carrying re = its id, and the connection is closed.",
			Outcomes: []string{"GetP2PInfo id=5 before Login gets Error{code:not_logged_in} re=5 and no ResP2pInfo, then close"},
			server: func(ctx context.Context, t *serverT) error {
				s, err := t.dial(ctx, "early")
				if err != nil {
					return err
				}
				if err := s.send(protocol.Frame{Type: protocol.TypeGetP2PInfo, ID: 5}); err != nil {
					return err
				}
				if _, err := expectError(ctx, s, protocol.CodeNotLoggedIn, 5); err != nil {
					return err
				}
				if got := s.find(isType(protocol.TypeResP2pInfo)); len(got) > 0 {
					return failf("no ResP2pInfo before Login", "%s", describe(got[0]))
				}
				return s.expectClosed(ctx, "after not_logged_in")
			},
		},
		{
			ID: "server/5.1/bad-user-id", Level: Must, Section: "5.1",
			Sentence: "A Login whose userID is not 1-64 characters of A-Za-z0-9._- is refused with bad_user_id and the connection is closed.",
			Outcomes: []string{"LoginResult{ok:false, error:bad_user_id} (then Error bad_user_id), then close", "Error{code:bad_user_id}, then close"},
			server: func(ctx context.Context, t *serverT) error {
				bad := []string{"", "has space", strings.Repeat("a", protocol.MaxUserIDLen+1), "na\u00efve", "a/b", "semi;colon"}
				for i, id := range bad {
					s, err := t.dial(ctx, fmt.Sprintf("bad%d", i))
					if err != nil {
						return err
					}
					if _, err := s.request(protocol.TypeLogin, protocol.Login{UserID: id}); err != nil {
						return err
					}
					want := fmt.Sprintf("Login %q refused with bad_user_id", id)
					f, err := s.expect(ctx, want, isLoginAnswer)
					if err != nil {
						return err
					}
					if !refused(f, protocol.CodeBadUserID) {
						return failf(want, "%s", describe(f))
					}
					if err := s.expectClosed(ctx, fmt.Sprintf("after refusing %q", id)); err != nil {
						return err
					}
				}
				return nil
			},
		},
		{
			ID: "server/2.5/user-id-64", Level: Must, Section: "2.5",
			Sentence: "A userID of 64 characters using every allowed character class is accepted.",
			Outcomes: []string{"LoginResult ok:true"},
			server: func(ctx context.Context, t *serverT) error {
				id := t.user("A.b_c-9")
				id += strings.Repeat("z", protocol.MaxUserIDLen-len(id))
				_, err := t.login(ctx, id)
				return err
			},
		},
		{
			ID: "server/5.1/already-online", Level: Must, Section: "5.1",
			Sentence: "A Login for a userID that is online on another connection is refused with already_online and that new connection is closed; the first session stays.",
			Outcomes: []string{"LoginResult{ok:false, error:already_online} or Error{code:already_online} on the second connection; the first still gets HeartbeatAck and is still listed at its endpoint"},
			server: func(ctx context.Context, t *serverT) error {
				u := t.user("dup")
				first, err := t.login(ctx, u)
				if err != nil {
					return err
				}
				second, err := t.dial(ctx, "second")
				if err != nil {
					return err
				}
				if _, err := second.request(protocol.TypeLogin, protocol.Login{UserID: u}); err != nil {
					return err
				}
				f, err := second.expect(ctx, "second Login refused with already_online", isLoginAnswer)
				if err != nil {
					return err
				}
				if !refused(f, protocol.CodeAlreadyOnline) {
					return failf("second Login refused with already_online", "%s", describe(f))
				}
				if err := second.expectClosed(ctx, "the refused connection"); err != nil {
					return err
				}
				if err := roundTrip(ctx, first, "the first session stays"); err != nil {
					return err
				}
				users, err := listUsers(ctx, first)
				if err != nil {
					return err
				}
				if !hasUser(users, u, first) {
					return failf(fmt.Sprintf("ResP2pInfo lists %s at the first session's endpoint %s", u, first.local()), "%s", listOf(users))
				}
				return nil
			},
		},
		{
			ID: "server/5.1/second-login", Level: Must, Section: "5.1",
			Sentence: "A second Login on a logged-in connection is refused with already_online and the session continues unchanged.",
			Outcomes: []string{"LoginResult{ok:false, error:already_online} or Error{code:already_online}; the connection stays open and gets HeartbeatAck"},
			server: func(ctx context.Context, t *serverT) error {
				s, err := t.login(ctx, t.user("a"))
				if err != nil {
					return err
				}
				if _, err := s.request(protocol.TypeLogin, protocol.Login{UserID: t.user("other")}); err != nil {
					return err
				}
				f, err := s.expect(ctx, "the second Login refused with already_online", isLoginAnswer)
				if err != nil {
					return err
				}
				if !refused(f, protocol.CodeAlreadyOnline) {
					return failf("the second Login refused with already_online", "%s", describe(f))
				}
				return roundTrip(ctx, s, "the session continues")
			},
		},
		{
			ID: "server/5.1/idle-before-login", Level: Must, Section: "5.1",
			Sentence:      "A connection that sends nothing for the liveness period before logging in is closed.",
			Outcomes:      []string{"a connection that never sends a frame is closed within heartbeat*(misses+1)"},
			usesHeartbeat: true,
			server: func(ctx context.Context, t *serverT) error {
				if err := t.needHeartbeat(); err != nil {
					return err
				}
				s, err := t.dial(ctx, "idle")
				if err != nil {
					return err
				}
				limit := t.Heartbeat*time.Duration(t.Misses+1) + slack(t.Heartbeat)
				dctx, cancel := context.WithTimeout(ctx, limit)
				defer cancel()
				return s.expectClosed(dctx, "silent before login for "+limit.String())
			},
		},
		{
			ID: "server/5.3/p2pinfo", Level: Must, Section: "5.3",
			Sentence: "GetP2PInfo is answered with ResP2pInfo (re = its id) listing every online user, the requester included, at its observed endpoint.",
			Outcomes: []string{"ResP2pInfo re=id whose users include both logged-in users with their connections' endpoints"},
			server: func(ctx context.Context, t *serverT) error {
				ss, err := t.logins(ctx, "a", "b")
				if err != nil {
					return err
				}
				users, err := listUsers(ctx, ss[0])
				if err != nil {
					return err
				}
				for i, n := range []string{"a", "b"} {
					if !hasUser(users, t.user(n), ss[i]) {
						return failf(fmt.Sprintf("users include %s at %s", t.user(n), ss[i].local()), "%s", listOf(users))
					}
				}
				return nil
			},
		},
		{
			ID: "server/5.3/p2pinfo-offline", Level: Must, Section: "5.3",
			Sentence: "A user who logged out is no longer listed by ResP2pInfo.",
			Outcomes: []string{"after b's Logout, a GetP2PInfo (repeated until the deadline) stops listing b"},
			server: func(ctx context.Context, t *serverT) error {
				ss, err := t.logins(ctx, "a", "b")
				if err != nil {
					return err
				}
				if err := ss[1].notice(protocol.TypeLogout, nil); err != nil {
					return err
				}
				var users []protocol.UserInfo
				err = poll(ctx, func() (bool, error) {
					var err error
					users, err = listUsers(ctx, ss[0])
					if err != nil {
						return false, err
					}
					for _, u := range users {
						if u.UserID == t.user("b") {
							return false, nil
						}
					}
					return true, nil
				})
				if err == nil {
					return nil
				}
				if ctx.Err() == nil {
					return err
				}
				return failf("ResP2pInfo without "+t.user("b")+" after its Logout", "%s", listOf(users))
			},
		},
	}
}
