package conform

import (
	"reflect"
	"testing"
)

// zeroMembers finds null, 0 and "" at any depth, and lets a 0 offset or
// size and false pass (docs/protocol.md 2.2, 3.9).
func TestZeroMembers(t *testing.T) {
	for _, tc := range []struct {
		payload string
		want    []string
	}{
		{`{"type":"Heartbeat","id":3}`, nil},
		{`{"type":"Heartbeat","re":0}`, []string{"re=0"}},
		{`{"type":"LoginResult","body":{"ok":false,"error":null,"observed":{"ip":"","port":7}}}`, []string{"body.error=null", `body.observed.ip=""`}},
		{`{"type":"ResP2pInfo","body":{"users":[{"userID":"a","ip":"1.2.3.4","port":0}]}}`, []string{"body.users[0].port=0"}},
		{`{"type":"FileChunk","body":{"offset":0,"data":"eA=="}}`, nil},
		{`{"type":"FileOffer","body":{"size":0,"fileName":"e"}}`, nil},
		{`{"type":"X","body":{"n":0.0}}`, []string{"body.n=0.0"}},
	} {
		if got := zeroMembers([]byte(tc.payload)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.payload, got, tc.want)
		}
	}
}
