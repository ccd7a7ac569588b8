package conform

import (
	"context"
	"fmt"

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
			ID: "server/4.1/no-error-reply", Level: Must, Section: "4.1",
			Sentence: "An Error from a client is not answered with another Error (nor anything else) and leaves the connection open.",
			Outcomes: []string{"after an Error{code:bad_frame} with an id from the client, the next frame that answers anything is the HeartbeatAck of a later Heartbeat, and the connection is open"},
			server: func(ctx context.Context, t *serverT) error {
				s, err := t.login(ctx, t.user("err"))
				if err != nil {
					return err
				}
				if _, err := s.request(protocol.TypeError, protocol.Error{Code: protocol.CodeBadFrame, Message: "conform: an Error the server must not answer"}); err != nil {
					return err
				}
				if err := roundTrip(ctx, s, "the connection stays open after an Error from the client"); err != nil {
					return err
				}
				if errs := s.find(isError); len(errs) > 0 {
					return failf("no Error in answer to an Error (4.1)", "%s", describe(errs[0]))
				}
				return nil
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
	}
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
