package conform

import (
	"context"
	"fmt"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
)

// expectNotify waits on s for UserStateNotify{user, online}.
func expectNotify(ctx context.Context, s *session, user string, online bool) (protocol.Frame, error) {
	return s.expect(ctx, fmt.Sprintf("UserStateNotify{userID:%s, onLine:%v}", user, online), isStateNotify(user, online))
}

func stateRequirements() []Requirement {
	return []Requirement{
		{
			ID: "server/5.7/notify-online", Level: Must, Section: "5.7",
			Sentence: "When a user logs in, every other online user receives UserStateNotify{userID, onLine:true}; ip and port, when present, are its observed endpoint.",
			Outcomes: []string{"a receives UserStateNotify{userID:b, onLine:true} (ip/port absent or equal to b's endpoint)"},
			server: func(ctx context.Context, t *serverT) error {
				a, err := t.login(ctx, t.user("a"))
				if err != nil {
					return err
				}
				b, err := t.login(ctx, t.user("b"))
				if err != nil {
					return err
				}
				f, err := expectNotify(ctx, a, t.user("b"), true)
				if err != nil {
					return err
				}
				n := body[protocol.UserStateNotify](f)
				l := b.local()
				if n.IP != "" && (n.IP != l.Addr().String() || n.Port != int(l.Port())) {
					return failf(fmt.Sprintf("ip:port absent or %s", l), "%s", describe(f))
				}
				return nil
			},
		},
		{
			ID: "server/5.7/notify-logout", Level: Must, Section: "5.7",
			Sentence: "When a user sends Logout, every other online user receives UserStateNotify{userID, onLine:false}.",
			Outcomes: []string{"a receives UserStateNotify{userID:b, onLine:false}"},
			server: func(ctx context.Context, t *serverT) error {
				ss, err := t.logins(ctx, "a", "b")
				if err != nil {
					return err
				}
				if err := ss[1].notice(protocol.TypeLogout, nil); err != nil {
					return err
				}
				_, err = expectNotify(ctx, ss[0], t.user("b"), false)
				return err
			},
		},
		{
			ID: "server/5.11/logout-closes", Level: Must, Section: "5.11",
			Sentence: "After a Logout the server closes the connection.",
			Outcomes: []string{"the server closes b's connection after its Logout"},
			server: func(ctx context.Context, t *serverT) error {
				b, err := t.login(ctx, t.user("b"))
				if err != nil {
					return err
				}
				if err := b.notice(protocol.TypeLogout, nil); err != nil {
					return err
				}
				return b.expectClosed(ctx, "after Logout")
			},
		},
		{
			ID: "server/5.7/notify-disconnect", Level: Must, Section: "5.7",
			Sentence: "When a user's connection closes, every other online user receives UserStateNotify{userID, onLine:false}.",
			Outcomes: []string{"a receives UserStateNotify{userID:b, onLine:false} after b's connection is closed"},
			server: func(ctx context.Context, t *serverT) error {
				ss, err := t.logins(ctx, "a", "b")
				if err != nil {
					return err
				}
				ss[1].Close()
				_, err = expectNotify(ctx, ss[0], t.user("b"), false)
				return err
			},
		},
		{
			ID: "server/5.8/heartbeat-timeout", Level: Must, Section: "5.8",
			Sentence:      "A connection silent for misses heartbeat intervals is dead: the server closes it and every other online user receives UserStateNotify{userID, onLine:false} within heartbeat*(misses+1), while a user that keeps sending frames stays online.",
			Outcomes:      []string{"a (sending Heartbeats) receives UserStateNotify{userID:b, onLine:false} and b's connection is closed, both within heartbeat*(misses+1) of b's last frame; a still gets HeartbeatAck"},
			usesHeartbeat: true,
			server: func(ctx context.Context, t *serverT) error {
				if err := t.needHeartbeat(); err != nil {
					return err
				}
				a, err := t.login(ctx, t.user("a"))
				if err != nil {
					return err
				}
				a.keepAlive(t.Heartbeat / 3)
				b, err := t.dial(ctx, t.user("b"))
				if err != nil {
					return err
				}
				b.silent.Store(true)
				if _, err := b.request(protocol.TypeLogin, protocol.Login{UserID: t.user("b")}); err != nil {
					return err
				}
				last := time.Now()
				if _, err := b.expect(ctx, "LoginResult", isLoginAnswer); err != nil {
					return err
				}
				limit := t.Heartbeat*time.Duration(t.Misses+1) + slack(t.Heartbeat)
				dctx, cancel := context.WithDeadline(ctx, last.Add(limit))
				defer cancel()
				if _, err := expectNotify(dctx, a, t.user("b"), false); err != nil {
					return fmt.Errorf("within %v: %w", limit, err)
				}
				if err := b.expectClosed(dctx, "the silent connection"); err != nil {
					return err
				}
				return roundTrip(ctx, a, "a user that keeps sending frames stays online")
			},
		},
		{
			ID: "server/5.8/server-heartbeat", Level: Must, Section: "5.8",
			Sentence:      "The server sends its own Heartbeat, with an id, to every logged-in connection every heartbeat interval.",
			Outcomes:      []string{"two Heartbeats with increasing ids within 3 heartbeat intervals of login"},
			usesHeartbeat: true,
			server: func(ctx context.Context, t *serverT) error {
				if err := t.needHeartbeat(); err != nil {
					return err
				}
				a, err := t.login(ctx, t.user("a"))
				if err != nil {
					return err
				}
				// HeartbeatAcks alone keep a session alive only on the edge
				// of M x H when M is 1 (5.8 rule 1): beat on our own.
				a.keepAlive(t.Heartbeat / 3)
				dctx, cancel := context.WithTimeout(ctx, 3*t.Heartbeat+slack(t.Heartbeat))
				defer cancel()
				var last int64
				for i := range 2 {
					f, err := a.expect(dctx, fmt.Sprintf("Heartbeat #%d from the server with an id", i+1), isType(protocol.TypeHeartbeat))
					if err != nil {
						return err
					}
					if f.ID <= last {
						return failf("Heartbeat ids >= 1 and increasing", "%s after id %d", describe(f), last)
					}
					last = f.ID
				}
				return nil
			},
		},
		{
			ID: "server/5.6/counters", Level: Should, Section: "5.6",
			Sentence: "The admin stats count, per user, the frames relayed from it (uploads) and delivered to it (downloads).",
			Outcomes: []string{"after a relays one ChatMessage to b, GET /v1/stats shows a online with uploads >= 1 and b online with downloads >= 1"},
			server: func(ctx context.Context, t *serverT) error {
				adm, err := t.admin()
				if err != nil {
					return err
				}
				ss, err := t.logins(ctx, "a", "b")
				if err != nil {
					return err
				}
				c := chat(t.user("m1"), t.user("a"), t.user("b"), "counted")
				if err := relayOne(ctx, ss[0], ss[1], protocol.TypeChatMessage, c, c.MessageID); err != nil {
					return err
				}
				var st api.Stats
				err = poll(ctx, func() (bool, error) {
					var err error
					st, err = adm.Stats(ctx)
					if err != nil {
						return false, err
					}
					ua, _ := st.User(t.user("a"))
					ub, _ := st.User(t.user("b"))
					return ua.Online && ub.Online && ua.Uploads >= 1 && ub.Downloads >= 1, nil
				})
				if err != nil && ctx.Err() != nil {
					ua, _ := st.User(t.user("a"))
					ub, _ := st.User(t.user("b"))
					return failf("a online with uploads>=1, b online with downloads>=1", "a=%+v b=%+v", ua, ub)
				}
				return err
			},
		},
		{
			ID: "server/8.2/healthz", Level: Should, Section: "8.2",
			Sentence: "The admin endpoint answers GET /healthz with a 2xx status.",
			Outcomes: []string{"GET /healthz 200"},
			server: func(ctx context.Context, t *serverT) error {
				adm, err := t.admin()
				if err != nil {
					return err
				}
				if err := adm.Healthz(ctx); err != nil {
					return failf("GET /healthz 2xx", "%v", err)
				}
				return nil
			},
		},
	}
}

func serverCatalogue() []Requirement {
	var all []Requirement
	all = append(all, framingRequirements()...)
	all = append(all, loginRequirements()...)
	all = append(all, relayRequirements()...)
	all = append(all, stateRequirements()...)
	all = append(all, flowRequirements()...)
	all = append(all, v11ServerRequirements()...)
	all = append(all, strictServerRequirements()...)
	all = append(all, moreServerRequirements()...)
	return all
}
