package conform

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/p2plab/p2plab/protocol"
)

// rawFrame prefixes payload with its length.
func rawFrame(payload string) []byte {
	b := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(b, uint32(len(payload)))
	copy(b[4:], payload)
	return b
}

// badFrameCheck sends raw on a logged-in session and expects an Error with
// code (and re, when re > 0), the connection closed, and a bystander session
// unaffected.
func badFrameCheck(raw []byte, code string, re int64) func(ctx context.Context, t *serverT) error {
	return func(ctx context.Context, t *serverT) error {
		ss, err := t.logins(ctx, "bystander", "bad")
		if err != nil {
			return err
		}
		by, bad := ss[0], ss[1]
		if err := bad.sendRaw(raw); err != nil {
			return err
		}
		if _, err := expectError(ctx, bad, code, re); err != nil {
			return err
		}
		if err := bad.expectClosed(ctx, "after the Error answering a malformed frame"); err != nil {
			return err
		}
		if err := roundTrip(ctx, by, "another logged-in session is unaffected"); err != nil {
			return err
		}
		// The server still accepts new users.
		if _, err := t.login(ctx, t.user("after")); err != nil {
			return err
		}
		return nil
	}
}

func framingRequirements() []Requirement {
	return []Requirement{
		{
			ID: "server/2.1/length-zero", Level: Must, Section: "2.1",
			Sentence: "A frame whose length prefix is 0 is answered with Error bad_frame and the connection is closed; other sessions are unaffected.",
			Outcomes: []string{"Error{code:bad_frame}, then the server closes the connection; another session still gets HeartbeatAck"},
			server:   badFrameCheck([]byte{0, 0, 0, 0}, protocol.CodeBadFrame, 0),
		},
		{
			ID: "server/2.1/length-limit", Level: Must, Section: "2.1",
			Sentence: "A frame whose length prefix exceeds 1,048,576 is answered with Error bad_frame at once (without reading the payload) and the connection is closed; other sessions are unaffected.",
			Outcomes: []string{"Error{code:bad_frame} after only the 4-byte prefix was sent, then close; another session still gets HeartbeatAck"},
			server: func(ctx context.Context, t *serverT) error {
				hdr := make([]byte, 4)
				binary.BigEndian.PutUint32(hdr, protocol.MaxFrameLen+1)
				return badFrameCheck(hdr, protocol.CodeBadFrame, 0)(ctx, t)
			},
		},
		{
			ID: "server/2.1/length-max", Level: Must, Section: "2.1",
			Sentence: "A frame of exactly 1,048,576 bytes is accepted.",
			Outcomes: []string{"a 1 MiB Heartbeat (padded with an unknown field) is answered with HeartbeatAck re=id and the connection stays open"},
			server: func(ctx context.Context, t *serverT) error {
				s, err := t.login(ctx, t.user("big"))
				if err != nil {
					return err
				}
				const id = 4242
				head := fmt.Sprintf(`{"type":"Heartbeat","id":%d,"pad":"`, id)
				pad := protocol.MaxFrameLen - len(head) - 2
				payload := head + strings.Repeat("x", pad) + `"}`
				if err := s.sendRaw(rawFrame(payload)); err != nil {
					return err
				}
				if _, err := s.expect(ctx, "HeartbeatAck re=4242 answering a 1,048,576-byte frame", isReply(protocol.TypeHeartbeatAck, id)); err != nil {
					return err
				}
				return roundTrip(ctx, s, "the connection stays usable after a maximal frame")
			},
		},
		{
			ID: "server/2.4/not-json", Level: Must, Section: "2.4",
			Sentence: "A frame whose payload is not a JSON object is answered with Error bad_frame and the connection is closed; other sessions are unaffected.",
			Outcomes: []string{"Error{code:bad_frame}, then close; another session still gets HeartbeatAck"},
			server:   badFrameCheck(rawFrame(`this is not {json`), protocol.CodeBadFrame, 0),
		},
		{
			ID: "server/2.4/no-type", Level: Must, Section: "2.4",
			Sentence: "A frame without a type is answered with Error bad_frame and the connection is closed; other sessions are unaffected.",
			Outcomes: []string{"Error{code:bad_frame}, then close; another session still gets HeartbeatAck"},
			server:   badFrameCheck(rawFrame(`{"body":{"userID":"x"}}`), protocol.CodeBadFrame, 0),
		},
		{
			ID: "server/3.11/malformed-re", Level: Must, Section: "3.11",
			Sentence: "The Error answering a frame without a type carries re = the frame's id when it had one.",
			Outcomes: []string{"Error{code:bad_frame} re=77, then close"},
			server:   badFrameCheck(rawFrame(`{"id":77,"body":{}}`), protocol.CodeBadFrame, 77),
		},
		{
			ID: "server/4.2/unknown-type", Level: Must, Section: "4.2",
			Sentence: "A frame of an unknown type is answered with Error unknown_type carrying re = its id, and the connection is closed; other sessions are unaffected.",
			Outcomes: []string{"Error{code:unknown_type} re=9, then close; another session still gets HeartbeatAck"},
			server:   badFrameCheck(rawFrame(`{"type":"NoSuchType","id":9}`), protocol.CodeUnknownType, 9),
		},
		{
			ID: "server/2.2/bad-id", Level: Must, Section: "2.2",
			Sentence: "An id that is not an integer >= 1 makes the frame malformed: Error bad_frame and the connection is closed.",
			Outcomes: []string{`{"type":"Heartbeat","id":"5"} gets Error{code:bad_frame}, then close; another session still gets HeartbeatAck`},
			server:   badFrameCheck(rawFrame(`{"type":"Heartbeat","id":"5"}`), protocol.CodeBadFrame, 0),
		},
		{
			ID: "server/2.2/case-sensitive", Level: Must, Section: "2.2",
			Sentence: "Member names are matched case-sensitively: a frame with \"Type\" but no \"type\" has no type and is malformed.",
			Outcomes: []string{`{"Type":"Heartbeat","id":6} gets Error{code:bad_frame}, then close`},
			server:   badFrameCheck(rawFrame(`{"Type":"Heartbeat","id":6}`), protocol.CodeBadFrame, 0),
		},
		{
			ID: "server/2.4/body-not-object", Level: Must, Section: "2.4",
			Sentence: "A frame whose body is present and not an object is malformed: Error bad_frame and the connection is closed.",
			Outcomes: []string{`{"type":"GetP2PInfo","id":8,"body":[1]} gets Error{code:bad_frame}, then close`},
			server:   badFrameCheck(rawFrame(`{"type":"GetP2PInfo","id":8,"body":[1]}`), protocol.CodeBadFrame, 0),
		},
		{
			ID: "server/4.2/client-type", Level: Must, Section: "4.2",
			Sentence: "A type meant for clients (e.g. SetupP2PMessage) sent to the server is refused with Error unknown_type and the connection is closed.",
			Outcomes: []string{"Error{code:unknown_type} re=12, then close; another session still gets HeartbeatAck"},
			server:   badFrameCheck(rawFrame(`{"type":"SetupP2PMessage","id":12,"body":{"userID":"x"}}`), protocol.CodeUnknownType, 12),
		},
		{
			ID: "server/2.2/unknown-fields", Level: Must, Section: "2.2",
			Sentence: "Unknown fields, in the frame and in the body, are ignored.",
			Outcomes: []string{"a Login with extra fields gets LoginResult ok:true"},
			server: func(ctx context.Context, t *serverT) error {
				s, err := t.dial(ctx, "extra")
				if err != nil {
					return err
				}
				payload := fmt.Sprintf(`{"type":"Login","id":3,"future":[1,2],"body":{"userID":%q,"userName":"x","colour":"blue"}}`, t.user("extra"))
				if err := s.sendRaw(rawFrame(payload)); err != nil {
					return err
				}
				f, err := s.expect(ctx, "LoginResult", func(f protocol.Frame) bool {
					return f.Type == protocol.TypeLoginResult || f.Type == protocol.TypeError
				})
				if err != nil {
					return err
				}
				if !body[protocol.LoginResult](f).OK {
					return failf("LoginResult ok:true", "%s", describe(f))
				}
				return nil
			},
		},
		{
			ID: "server/5.8/heartbeat-ack", Level: Must, Section: "5.8",
			Sentence: "A Heartbeat with an id is answered with HeartbeatAck whose re is that id.",
			Outcomes: []string{"HeartbeatAck re=id"},
			server: func(ctx context.Context, t *serverT) error {
				s, err := t.login(ctx, t.user("hb"))
				if err != nil {
					return err
				}
				for range 3 {
					if err := roundTrip(ctx, s, "Heartbeat answered"); err != nil {
						return err
					}
				}
				return nil
			},
		},
	}
}
