package conform

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/p2plab/p2plab/protocol"
)

// relayOne sends one relayable frame from a to b and checks that b receives
// it with the routing fields and the given body field values intact and the
// sender enforced.
func relayOne(ctx context.Context, from, to *session, typ string, v any, key string) error {
	if err := from.notice(typ, v); err != nil {
		return err
	}
	want := fmt.Sprintf("%s %s relayed to %s", typ, key, to.name)
	f, err := to.expect(ctx, want, func(f protocol.Frame) bool {
		r := body[protocol.Relay](f)
		return f.Type == typ && (r.MessageID == key || r.TransferID == key)
	})
	if err != nil {
		return err
	}
	return sameBody(f, v, want)
}

// sameBody checks that every member of v arrived unchanged in f's body.
func sameBody(f protocol.Frame, v any, want string) error {
	var sent, got map[string]any
	b, _ := json.Marshal(v)
	_ = json.Unmarshal(b, &sent)
	_ = json.Unmarshal(f.Body, &got)
	for k, sv := range sent {
		sb, _ := json.Marshal(sv)
		gb, _ := json.Marshal(got[k])
		if !bytes.Equal(sb, gb) {
			return failf(fmt.Sprintf("%s with %s=%s", want, k, sb), "%s", describe(f))
		}
	}
	return nil
}

func relayRequirements() []Requirement {
	return []Requirement{
		{
			ID: "server/5.4/relay-chat", Level: Must, Section: "5.4",
			Sentence: "A ChatMessage sent to the server is forwarded to destUserID with its body intact, userID = the sender's logged-in ID, no id or re, and nothing is sent back to the sender.",
			Outcomes: []string{"b receives ChatMessage with the same members (userID=a) and no id/re; a receives nothing but its HeartbeatAck"},
			server: func(ctx context.Context, t *serverT) error {
				ss, err := t.logins(ctx, "a", "b")
				if err != nil {
					return err
				}
				c := chat(t.user("m1"), t.user("a"), t.user("b"), "hello \u00e9\u00e8 \"quoted\" <b>")
				a, b := ss[0], ss[1]
				if _, err := a.request(protocol.TypeChatMessage, c); err != nil {
					return err
				}
				f, err := b.expect(ctx, "ChatMessage "+c.MessageID+" relayed to b", isChat(protocol.TypeChatMessage, c.MessageID))
				if err != nil {
					return err
				}
				if err := sameBody(f, c, "ChatMessage relayed to b"); err != nil {
					return err
				}
				if f.ID != 0 || f.Re != 0 {
					return failf("the forwarded frame without id and re", "%s", describe(f))
				}
				if err := roundTrip(ctx, a, "the sender's connection stays open"); err != nil {
					return err
				}
				if got := a.find(func(f protocol.Frame) bool {
					return f.Type != protocol.TypeHeartbeat && f.Type != protocol.TypeUserStateNotify
				}); len(got) > 0 {
					return failf("nothing sent back to the sender on success", "%s", describe(got[0]))
				}
				return nil
			},
		},
		{
			ID: "server/5.4/relay-order", Level: Must, Section: "5.4",
			Sentence: "Frames relayed from one sender to one destination arrive in the order they were sent.",
			Outcomes: []string{"50 ChatMessages from a arrive at b in the order sent"},
			server: func(ctx context.Context, t *serverT) error {
				ss, err := t.logins(ctx, "a", "b")
				if err != nil {
					return err
				}
				const n = 50
				for i := range n {
					if err := ss[0].notice(protocol.TypeChatMessage, chat(fmt.Sprintf("%s-%03d", t.user("m"), i), t.user("a"), t.user("b"), "x")); err != nil {
						return err
					}
				}
				for i := range n {
					want := fmt.Sprintf("%s-%03d", t.user("m"), i)
					f, err := ss[1].expect(ctx, "ChatMessage "+want, isType(protocol.TypeChatMessage))
					if err != nil {
						return err
					}
					if got := body[protocol.Chat](f).MessageID; got != want {
						return failf("ChatMessage "+want+" next", "%s", got)
					}
				}
				return nil
			},
		},
		{
			ID: "server/5.4/no-dest", Level: Must, Section: "5.4",
			Sentence: "A relayable frame without a non-empty string destUserID is malformed: Error bad_frame and the connection is closed.",
			Outcomes: []string{"a ChatMessage without destUserID gets Error{code:bad_frame}, then close; another session still gets HeartbeatAck"},
			server:   badFrameCheck(rawFrame(`{"type":"ChatMessage","body":{"messageID":"x","content":"nowhere"}}`), protocol.CodeBadFrame, 0),
		},
		{
			ID: "server/5.5/sender-inserted", Level: Must, Section: "5.5",
			Sentence: "A relayed frame that omits userID is forwarded with userID set to the sender's logged-in ID.",
			Outcomes: []string{"b receives the ChatMessage with userID=a"},
			server: func(ctx context.Context, t *serverT) error {
				ss, err := t.logins(ctx, "a", "b")
				if err != nil {
					return err
				}
				c := chat(t.user("m1"), "", t.user("b"), "no sender")
				if err := ss[0].notice(protocol.TypeChatMessage, c); err != nil {
					return err
				}
				f, err := ss[1].expect(ctx, "ChatMessage relayed to b", isChat(protocol.TypeChatMessage, c.MessageID))
				if err != nil {
					return err
				}
				if body[protocol.Chat](f).UserID != t.user("a") {
					return failf("ChatMessage with userID="+t.user("a"), "%s", describe(f))
				}
				return nil
			},
		},
		{
			ID: "server/5.5/forged-sender", Level: Must, Section: "5.5",
			Sentence: "A relayable frame that claims another sender is refused with Error forbidden (re = its id) and is not forwarded.",
			Outcomes: []string{"a gets Error{code:forbidden} re=id and its connection stays open; b never receives the forged message (checked by a later message from c arriving first)"},
			server: func(ctx context.Context, t *serverT) error {
				ss, err := t.logins(ctx, "a", "b", "c")
				if err != nil {
					return err
				}
				a, b, c := ss[0], ss[1], ss[2]
				forged := chat(t.user("forged"), t.user("c"), t.user("b"), "forged")
				id, err := a.request(protocol.TypeChatMessage, forged)
				if err != nil {
					return err
				}
				if _, err := expectError(ctx, a, protocol.CodeForbidden, id); err != nil {
					return err
				}
				if err := roundTrip(ctx, a, "the connection stays open after forbidden"); err != nil {
					return err
				}
				return notForwarded(ctx, t, b, c, forged.MessageID)
			},
		},
		{
			ID: "server/5.5/forged-sender-case", Level: Must, Section: "5.5",
			Sentence: "A sender named in a case variant of userID (e.g. UserID) that is another user is refused with forbidden and not forwarded.",
			Outcomes: []string{"a gets Error{code:forbidden}; b never receives the message (checked by a later message from c arriving first)"},
			server: func(ctx context.Context, t *serverT) error {
				ss, err := t.logins(ctx, "a", "b", "c")
				if err != nil {
					return err
				}
				a, b, c := ss[0], ss[1], ss[2]
				mid := t.user("forged")
				payload := fmt.Sprintf(`{"type":"ChatMessage","id":31,"body":{"messageID":%q,"UserID":%q,"destUserID":%q,"content":"forged","sendTime":"2026-01-01T00:00:00Z"}}`, mid, t.user("c"), t.user("b"))
				if err := a.sendRaw(rawFrame(payload)); err != nil {
					return err
				}
				if _, err := expectError(ctx, a, protocol.CodeForbidden, 31); err != nil {
					return err
				}
				return notForwarded(ctx, t, b, c, mid)
			},
		},
		{
			ID: "server/5.5/sender-not-string", Level: Must, Section: "5.5",
			Sentence: "A relayable frame whose userID is not a string is malformed: Error bad_frame and the connection is closed.",
			Outcomes: []string{`a ChatMessage with "userID":42 gets Error{code:bad_frame}, then close`},
			server:   badSenderCheck("42"),
		},
		{
			ID: "server/5.4/user-offline", Level: Must, Section: "5.4",
			Sentence: "A ChatMessage to a user who is not online is refused with Error user_offline carrying re = its id and its messageID; the connection stays open.",
			Outcomes: []string{"Error{code:user_offline, messageID:M} re=id"},
			server: func(ctx context.Context, t *serverT) error {
				a, err := t.login(ctx, t.user("a"))
				if err != nil {
					return err
				}
				c := chat(t.user("lost"), t.user("a"), t.user("nobody"), "anyone?")
				id, err := a.request(protocol.TypeChatMessage, c)
				if err != nil {
					return err
				}
				f, err := expectError(ctx, a, protocol.CodeUserOffline, id)
				if err != nil {
					return err
				}
				if body[protocol.Error](f).MessageID != c.MessageID {
					return failf("Error user_offline with messageID="+c.MessageID, "%s", describe(f))
				}
				return roundTrip(ctx, a, "the connection stays open after user_offline")
			},
		},
		{
			ID: "server/5.4/user-offline-file", Level: Must, Section: "5.4",
			Sentence: "A FileOffer to a user who is not online is refused with Error user_offline carrying re = its id and its transferID.",
			Outcomes: []string{"Error{code:user_offline, transferID:T} re=id"},
			server: func(ctx context.Context, t *serverT) error {
				a, err := t.login(ctx, t.user("a"))
				if err != nil {
					return err
				}
				o := protocol.FileOffer{TransferID: t.user("t1"), UserID: t.user("a"), DestUserID: t.user("nobody"), FileName: "x.txt", Size: 1, SHA256: "00"}
				id, err := a.request(protocol.TypeFileOffer, o)
				if err != nil {
					return err
				}
				f, err := expectError(ctx, a, protocol.CodeUserOffline, id)
				if err != nil {
					return err
				}
				if body[protocol.Error](f).TransferID != o.TransferID {
					return failf("Error user_offline with transferID="+o.TransferID, "%s", describe(f))
				}
				return nil
			},
		},
		{
			ID: "server/5.4/relay-ack", Level: Must, Section: "5.4",
			Sentence: "A ChatAck sent to the server is forwarded to its destUserID.",
			Outcomes: []string{"a receives the ChatAck from b with the same messageID and userID=b"},
			server: func(ctx context.Context, t *serverT) error {
				ss, err := t.logins(ctx, "a", "b")
				if err != nil {
					return err
				}
				ack := protocol.ChatAck{MessageID: t.user("m1"), UserID: t.user("b"), DestUserID: t.user("a")}
				return relayOne(ctx, ss[1], ss[0], protocol.TypeChatAck, ack, ack.MessageID)
			},
		},
		{
			ID: "server/5.4/relay-file", Level: Must, Section: "5.4",
			Sentence: "FileOffer, FileChunk, FileDone and FileResult sent to the server are forwarded to destUserID with their bodies intact.",
			Outcomes: []string{"b receives the FileOffer, FileChunk (same offset and data) and FileDone from a; a receives b's FileResult"},
			server: func(ctx context.Context, t *serverT) error {
				ss, err := t.logins(ctx, "a", "b")
				if err != nil {
					return err
				}
				a, b := ss[0], ss[1]
				tid := t.user("t1")
				data := []byte("conformance file chunk \x00\x01\xff")
				steps := []struct {
					from, to *session
					typ      string
					v        any
				}{
					{a, b, protocol.TypeFileOffer, protocol.FileOffer{TransferID: tid, UserID: t.user("a"), DestUserID: t.user("b"), FileName: "c.bin", Size: int64(len(data)), SHA256: "ab"}},
					{a, b, protocol.TypeFileChunk, protocol.FileChunk{TransferID: tid, UserID: t.user("a"), DestUserID: t.user("b"), Offset: 0, Data: data}},
					{a, b, protocol.TypeFileDone, protocol.FileDone{TransferID: tid, UserID: t.user("a"), DestUserID: t.user("b")}},
					{b, a, protocol.TypeFileResult, protocol.FileResult{TransferID: tid, UserID: t.user("b"), DestUserID: t.user("a"), OK: true}},
				}
				for _, st := range steps {
					if err := relayOne(ctx, st.from, st.to, st.typ, st.v, tid); err != nil {
						return err
					}
				}
				return nil
			},
		},
	}
}

// notForwarded checks that b never received the ChatMessage messageID: c
// relays a marker message to b, and once the marker has arrived the refused
// message must not have arrived before it.
func notForwarded(ctx context.Context, t *serverT, b, c *session, messageID string) error {
	marker := chat(t.user("marker"), t.user("c"), t.user("b"), "marker")
	if err := c.notice(protocol.TypeChatMessage, marker); err != nil {
		return err
	}
	if _, err := b.expect(ctx, "the marker message from c", isChat(protocol.TypeChatMessage, marker.MessageID)); err != nil {
		return err
	}
	if got := b.find(isChat(protocol.TypeChatMessage, messageID)); len(got) > 0 {
		return failf("the forged message not forwarded to b", "b received %s", describe(got[0]))
	}
	return nil
}
