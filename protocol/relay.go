package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// RelayBody checks the body of a relayable frame (see Relayable) that the
// logged-in user sender sent to the server, and returns its routing fields
// and the body to forward, whose userID is sender.
//
// Errors are *FrameError values: CodeBadFrame when the body is absent, is
// not a JSON object, has no non-empty string destUserID, or has a userID
// that is not a string; CodeForbidden when a userID member (matched without
// regard to case, so no receiver can be fooled by "UserID") names anyone but
// sender. An absent or empty userID is filled in. The returned body aliases
// body when it already names sender exactly once.
func RelayBody(body []byte, sender string) (Relay, []byte, error) {
	var (
		r        Relay
		claims   int  // userID-like members
		exact    bool // one member "userID" equal to sender
		foreign  string
		badUser  bool
		haveDest bool
	)
	err := EachMember(body, func(m Member) error {
		switch {
		case bytes.EqualFold(m.Key, []byte("userID")):
			claims++
			s, ok := m.String()
			switch {
			case !ok:
				badUser = true
			case s == sender && string(m.Key) == "userID":
				exact = true
			case s != "" && s != sender:
				foreign = s
			}
		case string(m.Key) == "destUserID":
			r.DestUserID, haveDest = m.String()
		case string(m.Key) == "messageID":
			r.MessageID, _ = m.String()
		case string(m.Key) == "transferID":
			r.TransferID, _ = m.String()
		}
		return nil
	})
	switch {
	case err != nil:
		return Relay{}, nil, badFrame("body is not a JSON object")
	case !haveDest || r.DestUserID == "":
		return Relay{}, nil, badFrame("body has no destUserID string")
	case badUser:
		return Relay{}, nil, badFrame("body userID is not a string")
	case foreign != "":
		return Relay{}, nil, &FrameError{Code: CodeForbidden, Reason: fmt.Sprintf("userID %q is not the sender %q", foreign, sender)}
	}
	r.UserID = sender
	if claims == 1 && exact {
		return r, body, nil
	}
	// Rebuild: userID first, then every other member unchanged.
	q, _ := json.Marshal(sender)
	out := make([]byte, 0, len(body)+len(q)+12)
	out = append(out, `{"userID":`...)
	out = append(out, q...)
	_ = eachMember(body, func(m Member) error {
		if !bytes.EqualFold(m.Key, []byte("userID")) {
			out = append(out, ',')
			out = append(out, m.Text...)
		}
		return nil
	})
	out = append(out, '}')
	return r, out, nil
}
