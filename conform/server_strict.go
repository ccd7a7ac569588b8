package conform

import (
	"context"
	"fmt"
	"strings"

	"github.com/p2plab/p2plab/protocol"
)

// strictServerRequirements are the rules a lenient decoder breaks without
// anyone noticing (docs/protocol.md 1.2, 2.2, 2.4, 3.8, 4.1): each is a
// frame a common JSON library takes for a good one, or an answer a sloppy
// server adds.
func strictServerRequirements() []Requirement {
	return []Requirement{
		{
			ID: "server/2.4/trailing-bytes", Level: Must, Section: "2.4",
			Sentence: "A payload with anything but whitespace after the JSON object (here a second object) is malformed: Error bad_frame and the connection is closed.",
			Outcomes: []string{`{"type":"Heartbeat","id":5}{"type":"Heartbeat","id":6} in one frame gets Error{code:bad_frame}, then close; another session still gets HeartbeatAck`},
			server:   badFrameCheck(rawFrame(`{"type":"Heartbeat","id":5}{"type":"Heartbeat","id":6}`), protocol.CodeBadFrame, 0),
		},
		{
			ID: "server/2.2/float-id", Level: Must, Section: "2.2",
			Sentence: "An id written with a fraction (5.0) is malformed: Error bad_frame and the connection is closed.",
			Outcomes: []string{`{"type":"Heartbeat","id":5.0} gets Error{code:bad_frame}, then close`},
			server:   badFrameCheck(rawFrame(`{"type":"Heartbeat","id":5.0}`), protocol.CodeBadFrame, 0),
		},
		{
			ID: "server/2.2/exponent-id", Level: Must, Section: "2.2",
			Sentence: "An id written with an exponent (5e0) is malformed: Error bad_frame and the connection is closed.",
			Outcomes: []string{`{"type":"Heartbeat","id":5e0} gets Error{code:bad_frame}, then close`},
			server:   badFrameCheck(rawFrame(`{"type":"Heartbeat","id":5e0}`), protocol.CodeBadFrame, 0),
		},
		{
			ID: "server/2.4/invalid-utf8", Level: Must, Section: "2.4",
			Sentence: "A payload that is not valid UTF-8 (an 0xFF byte inside a string, which lax decoders replace with U+FFFD) is malformed: Error bad_frame and the connection is closed.",
			Outcomes: []string{`{"type":"Heartbeat","id":5,"pad":"<0xFF>"} gets Error{code:bad_frame}, then close`},
			server:   badFrameCheck(rawFrame("{\"type\":\"Heartbeat\",\"id\":5,\"pad\":\"\xff\"}"), protocol.CodeBadFrame, 0),
		},
		{
			ID: "server/1.2/user-id-case", Level: Must, Section: "1.2",
			Sentence: "userIDs are compared byte for byte: two userIDs that differ only in case are two users, both online at once, each reached by its own spelling.",
			Outcomes: []string{"<p>-Case and <p>-case both get LoginResult ok:true; ResP2pInfo lists both; a chat to <p>-case reaches that session and not <p>-Case"},
			server:   userIDCase,
		},
		{
			ID: "server/3.8/heartbeat-no-id", Level: Must, Section: "3.8",
			Sentence: "A Heartbeat without an id is answered with a HeartbeatAck without re.",
			Outcomes: []string{"a Heartbeat with no id gets a HeartbeatAck with no re"},
			server: func(ctx context.Context, t *serverT) error {
				s, err := t.login(ctx, t.user("hb"))
				if err != nil {
					return err
				}
				// Heartbeats of the server's own are no answer (5.8 rule 3).
				if err := s.notice(protocol.TypeHeartbeat, nil); err != nil {
					return err
				}
				if _, err := s.expect(ctx, "HeartbeatAck without re", func(f protocol.Frame) bool {
					return f.Type == protocol.TypeHeartbeatAck && f.Re == 0
				}); err != nil {
					return err
				}
				return roundTrip(ctx, s, "the connection stays usable")
			},
		},
		{
			ID: "server/2.2/duplicate-last", Level: Must, Section: "2.2",
			Sentence: "When a member appears more than once, the last one counts.",
			Outcomes: []string{`{"type":"NoSuchType","type":"Heartbeat","id":7} gets HeartbeatAck re=7 and the connection stays open`},
			server: func(ctx context.Context, t *serverT) error {
				s, err := t.login(ctx, t.user("dup"))
				if err != nil {
					return err
				}
				if err := s.sendRaw(rawFrame(`{"type":"NoSuchType","type":"Heartbeat","id":7}`)); err != nil {
					return err
				}
				if _, err := s.expect(ctx, "HeartbeatAck re=7 (the last type counts)", func(f protocol.Frame) bool {
					return isReply(protocol.TypeHeartbeatAck, 7)(f) || isError(f)
				}); err != nil {
					return err
				}
				if errs := s.find(isError); len(errs) > 0 {
					return failf("HeartbeatAck re=7 (the last type counts)", "%s", describe(errs[0]))
				}
				return roundTrip(ctx, s, "the connection stays open")
			},
		},
		{
			ID: "server/2.2/null-absent", Level: Must, Section: "2.2",
			Sentence: `A member whose value is null counts as absent: "body":null is no body.`,
			Outcomes: []string{`{"type":"Heartbeat","id":9,"body":null} gets HeartbeatAck re=9 and the connection stays open`},
			server: func(ctx context.Context, t *serverT) error {
				s, err := t.login(ctx, t.user("null"))
				if err != nil {
					return err
				}
				if err := s.sendRaw(rawFrame(`{"type":"Heartbeat","id":9,"body":null}`)); err != nil {
					return err
				}
				f, err := s.expect(ctx, "HeartbeatAck re=9", func(f protocol.Frame) bool {
					return isReply(protocol.TypeHeartbeatAck, 9)(f) || isError(f)
				})
				if err != nil {
					return err
				}
				if f.Type != protocol.TypeHeartbeatAck {
					return failf("HeartbeatAck re=9", "%s", describe(f))
				}
				return roundTrip(ctx, s, "the connection stays open")
			},
		},
		{
			ID: "server/2.4/empty-type", Level: Must, Section: "2.4",
			Sentence: "A frame whose type is the empty string is malformed (not of an unknown type): Error bad_frame carrying re = its id, and the connection is closed.",
			Outcomes: []string{`{"type":"","id":4,"pad":"padding"} gets Error{code:bad_frame} re=4, then close`},
			server:   badFrameCheck(rawFrame(`{"type":"","id":4,"pad":"padding"}`), protocol.CodeBadFrame, 4),
		},
		{
			ID: "server/4.2/unknown-before-login", Level: Must, Section: "4.2",
			Sentence: "A first frame of an unknown type, before any Login, is refused with Error not_logged_in (any type, known or not), and the connection is closed.",
			Outcomes: []string{`{"type":"NoSuchType","id":5} as the first frame gets Error{code:not_logged_in} re=5, then close`},
			server: func(ctx context.Context, t *serverT) error {
				s, err := t.dial(ctx, "early")
				if err != nil {
					return err
				}
				if err := s.sendRaw(rawFrame(`{"type":"NoSuchType","id":5,"body":{"x":"padding the frame"}}`)); err != nil {
					return err
				}
				if _, err := expectError(ctx, s, protocol.CodeNotLoggedIn, 5); err != nil {
					return err
				}
				return s.expectClosed(ctx, "after not_logged_in")
			},
		},
		{
			ID: "server/5.4/self-relay", Level: Must, Section: "5.4",
			Sentence: "A user may relay to itself: a ChatMessage whose destUserID is the sender comes back to it.",
			Outcomes: []string{"a receives its own ChatMessage (userID=a, no id) and no Error"},
			server: func(ctx context.Context, t *serverT) error {
				a, err := t.login(ctx, t.user("a"))
				if err != nil {
					return err
				}
				c := chat(t.user("m1"), t.user("a"), t.user("a"), "note to self")
				if _, err := a.request(protocol.TypeChatMessage, c); err != nil {
					return err
				}
				f, err := a.expect(ctx, "ChatMessage "+c.MessageID+" relayed back to its sender", func(f protocol.Frame) bool {
					return isChat(protocol.TypeChatMessage, c.MessageID)(f) || isError(f)
				})
				if err != nil {
					return err
				}
				if f.Type != protocol.TypeChatMessage || f.ID != 0 || body[protocol.Chat](f).UserID != t.user("a") {
					return failf("ChatMessage "+c.MessageID+" with userID="+t.user("a")+" and no id", "%s", describe(f))
				}
				return nil
			},
		},
		{
			ID: "server/5.7/no-self-notify", Level: Must, Section: "5.7",
			Sentence: "A user that logs in is not told of its own login: UserStateNotify goes to every other online user.",
			Outcomes: []string{"after its LoginResult and a HeartbeatAck, a has received no UserStateNotify about itself"},
			server: func(ctx context.Context, t *serverT) error {
				a, err := t.login(ctx, t.user("a"))
				if err != nil {
					return err
				}
				if err := roundTrip(ctx, a, "a is served"); err != nil {
					return err
				}
				if got := a.find(isStateNotify(t.user("a"), true)); len(got) > 0 {
					return failf("no UserStateNotify about "+t.user("a")+" to itself", "%s", describe(got[0]))
				}
				return nil
			},
		},
		{
			ID: "server/5.4/insert-overflow", Level: Must, Section: "5.4",
			Sentence: "A relayable frame that only the inserted userID would push over the length limit is refused with Error bad_frame, not forwarded, and the connection stays open.",
			Outcomes: []string{"a ChatMessage of exactly 1,048,576 bytes without userID gets Error{code:bad_frame} re=id; a's connection still gets HeartbeatAck; b receives a later small chat and not the big one"},
			server:   insertOverflow,
		},
	}
}

// insertOverflow sends a ChatMessage of the maximum length without
// userID (docs/protocol.md 5.4 rule 6).
func insertOverflow(ctx context.Context, t *serverT) error {
	ss, err := t.logins(ctx, "a", "b")
	if err != nil {
		return err
	}
	a, b := ss[0], ss[1]
	const id = 4343
	big := t.user("big")
	head := fmt.Sprintf(`{"type":"ChatMessage","id":%d,"body":{"messageID":%q,"destUserID":%q,"content":"`, id, big, t.user("b"))
	payload := head + strings.Repeat("x", protocol.MaxFrameLen-len(head)-3) + `"}}`
	if err := a.sendRaw(rawFrame(payload)); err != nil {
		return err
	}
	f, err := a.expect(ctx, fmt.Sprintf("Error bad_frame re=%d", id), isError)
	if err != nil {
		return err
	}
	if e := body[protocol.Error](f); e.Code != protocol.CodeBadFrame || f.Re != id {
		return failf(fmt.Sprintf("Error bad_frame re=%d", id), "%s", describe(f))
	}
	if err := roundTrip(ctx, a, "the connection stays open (the frame itself was well-formed)"); err != nil {
		return err
	}
	small := chat(t.user("small"), t.user("a"), t.user("b"), "after the big one")
	if err := a.notice(protocol.TypeChatMessage, small); err != nil {
		return err
	}
	if _, err := b.expect(ctx, "ChatMessage "+small.MessageID, isChat(protocol.TypeChatMessage, small.MessageID)); err != nil {
		return err
	}
	if got := b.find(isChat(protocol.TypeChatMessage, big)); len(got) > 0 {
		return failf("the oversized chat not forwarded", "b received %s", describe(got[0]))
	}
	return nil
}

// userIDCase logs in two users whose IDs differ only in case and relays a
// chat to one of them (docs/protocol.md 1.2).
func userIDCase(ctx context.Context, t *serverT) error {
	upper, lower := t.user("Case"), t.user("case")
	u, err := t.login(ctx, upper)
	if err != nil {
		return err
	}
	l, err := t.login(ctx, lower)
	if err != nil {
		return fmt.Errorf("a userID differing from an online one only in case is another user: %w", err)
	}
	users, err := listUsers(ctx, l)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, x := range users {
		seen[x.UserID] = true
	}
	if !seen[upper] || !seen[lower] {
		return failf(fmt.Sprintf("ResP2pInfo lists both %s and %s", upper, lower), "%s", listOf(users))
	}
	c := chat(t.user("m1"), upper, lower, "to the lower-case one")
	if err := u.notice(protocol.TypeChatMessage, c); err != nil {
		return err
	}
	if _, err := l.expect(ctx, "ChatMessage "+c.MessageID+" relayed to "+lower, isChat(protocol.TypeChatMessage, c.MessageID)); err != nil {
		return err
	}
	// The sender must not get it back: a round trip on it orders what the
	// server sent it before.
	if err := roundTrip(ctx, u, "the sender is still served"); err != nil {
		return err
	}
	if got := u.find(isChat(protocol.TypeChatMessage, c.MessageID)); len(got) > 0 {
		return failf("the chat to "+lower+" is not delivered to "+upper, "%s received it", upper)
	}
	return nil
}
