package protocol

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestValidUserID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"alice", true},
		{"A.b_c-9", true},
		{".", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{"", false},
		{"a b", false},
		{"a/b", false},
		{"a:b", false},
		{"alice\n", false},
		{"émile", false},
		{"a\x00", false},
	}
	for _, tt := range tests {
		if got := ValidUserID(tt.id); got != tt.want {
			t.Errorf("ValidUserID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestRelayableAndKnown(t *testing.T) {
	relayable := map[string]bool{
		TypeChatMessage: true, TypeChatAck: true, TypeFileOffer: true,
		TypeFileChunk: true, TypeFileDone: true, TypeFileResult: true,
	}
	all := []string{TypeLogin, TypeLoginResult, TypeGetP2PInfo, TypeResP2pInfo, TypeChatMessage,
		TypeChatAck, TypeUserStateNotify, TypeSetupP2PMessage, TypeClientChatMessage,
		TypeHeartbeat, TypeHeartbeatAck, TypeFileOffer, TypeFileChunk, TypeFileDone,
		TypeFileResult, TypeLogout, TypeError}
	for _, typ := range all {
		if got := Relayable(typ); got != relayable[typ] {
			t.Errorf("Relayable(%s) = %v", typ, got)
		}
		if !Known(typ) {
			t.Errorf("Known(%s) = false", typ)
		}
	}
	for _, typ := range []string{"", "chatmessage", "Bogus", "ChatMessage "} {
		if Relayable(typ) || Known(typ) {
			t.Errorf("%q is relayable or known", typ)
		}
	}
}

func TestRelayBody(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		want     Relay
		wantBody string // "" = unchanged
		code     string // error code, "" = success
	}{
		{"sender named", `{"messageID":"m1","userID":"alice","destUserID":"bob","content":"hi"}`,
			Relay{UserID: "alice", DestUserID: "bob", MessageID: "m1"}, "", ""},
		{"sender filled in", `{"messageID":"m1","destUserID":"bob"}`,
			Relay{UserID: "alice", DestUserID: "bob", MessageID: "m1"}, `{"userID":"alice","messageID":"m1","destUserID":"bob"}`, ""},
		{"empty sender filled in", `{"userID":"","destUserID":"bob","transferID":"t1"}`,
			Relay{UserID: "alice", DestUserID: "bob", TransferID: "t1"}, `{"userID":"alice","destUserID":"bob","transferID":"t1"}`, ""},
		{"duplicate own userID collapsed", `{"userID":"alice","destUserID":"bob","userID":"alice"}`,
			Relay{UserID: "alice", DestUserID: "bob"}, `{"userID":"alice","destUserID":"bob"}`, ""},
		{"other sender", `{"userID":"mallory","destUserID":"bob"}`, Relay{}, "", CodeForbidden},
		{"other sender in case variant", `{"userID":"alice","UserID":"mallory","destUserID":"bob"}`, Relay{}, "", CodeForbidden},
		{"other sender escaped key", `{"user\u0049D":"mallory","destUserID":"bob"}`, Relay{}, "", CodeForbidden},
		{"numeric userID", `{"userID":5,"destUserID":"bob"}`, Relay{}, "", CodeBadFrame},
		// docs/protocol.md 2.2 and 5.5: the one place where null is not
		// "absent": a null sender is malformed, not filled in.
		{"null userID", `{"userID":null,"destUserID":"bob"}`, Relay{}, "", CodeBadFrame},
		{"null userID in a case variant", `{"userid":null,"destUserID":"bob"}`, Relay{}, "", CodeBadFrame},
		{"null dest", `{"destUserID":null}`, Relay{}, "", CodeBadFrame},
		{"no dest", `{"userID":"alice"}`, Relay{}, "", CodeBadFrame},
		{"empty dest", `{"destUserID":""}`, Relay{}, "", CodeBadFrame},
		{"numeric dest", `{"destUserID":7}`, Relay{}, "", CodeBadFrame},
		{"absent body", ``, Relay{}, "", CodeBadFrame},
		{"array body", `[]`, Relay{}, "", CodeBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, out, err := RelayBody([]byte(tt.body), "alice")
			if tt.code != "" {
				var fe *FrameError
				if !errors.As(err, &fe) || fe.Code != tt.code {
					t.Fatalf("err = %v, want code %s", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r != tt.want {
				t.Fatalf("relay %+v, want %+v", r, tt.want)
			}
			want := tt.wantBody
			if want == "" {
				want = tt.body
			}
			if string(out) != want {
				t.Fatalf("body %s, want %s", out, want)
			}
			var c Chat
			if err := json.Unmarshal(out, &c); err != nil || c.UserID != "alice" {
				t.Fatalf("forwarded body decodes to %+v, %v", c, err)
			}
		})
	}
}

func TestEndpoint(t *testing.T) {
	ap := netip.MustParseAddrPort("[::ffff:10.0.0.1]:7070")
	e := EndpointOf(ap)
	if e.IP != "10.0.0.1" || e.Port != 7070 {
		t.Fatalf("EndpointOf = %+v", e)
	}
	back, ok := e.AddrPort()
	if !ok || back != netip.MustParseAddrPort("10.0.0.1:7070") {
		t.Fatalf("AddrPort = %v, %v", back, ok)
	}
	for _, bad := range []Endpoint{{IP: "x", Port: 1}, {IP: "1.2.3.4", Port: 0}, {IP: "1.2.3.4", Port: 65536}} {
		if _, ok := bad.AddrPort(); ok {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestEachMember(t *testing.T) {
	var keys []string
	err := EachMember([]byte(` { "a" : [1,{"b":"}"}] , "c\"d":"x" ,"e":{} } `), func(m Member) error {
		keys = append(keys, string(m.Key)+"="+string(m.Value))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `a=[1,{"b":"}"}]|c"d="x"|e={}`
	if got := strings.Join(keys, "|"); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	for _, bad := range []string{``, `[]`, `{`, `{"a":1}x`, `null`} {
		if err := EachMember([]byte(bad), func(Member) error { return nil }); err == nil {
			t.Errorf("EachMember(%q) succeeded", bad)
		}
	}
}

func TestRequestID(t *testing.T) {
	tests := []struct {
		payload string
		want    int64
	}{
		{`{"type":"","id":5}`, 5},
		{`{"id":7,"body":[]}`, 7},
		{`{"type":"X","id":1.5}`, 0},
		{`{"type":"X"}`, 0},
		{`not json "id":5`, 0},
		{`[{"id":5}]`, 0},
	}
	for _, tt := range tests {
		if got := RequestID([]byte(tt.payload)); got != tt.want {
			t.Errorf("RequestID(%s) = %d, want %d", tt.payload, got, tt.want)
		}
	}
}
