package matrix

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/sim/matrixreport"
)

// judgeOf runs judge on a trial of pair with the given outcome.
func judgeOf(t *testing.T, row, col string, first, again matrixreport.Path, sent, delivered int, ad *Advertised, err error) *matrixreport.Trial {
	t.Helper()
	p := Pair{Row: kind(t, row), Col: kind(t, col)}
	cfg := Config{Delay: 20 * time.Millisecond}
	tr := &trial{trialRun: &trialRun{cfg: cfg, pair: p, exp: Oracle(p.Situation(cfg.Delay)), ad: ad}, t: &matrixreport.Trial{Sent: sent, Delivered: delivered}}
	tr.judge(first, again, err)
	return tr.t
}

var v11 = &Advertised{Server: []string{"id", "udp", "punch"}, V11Server: true, Users: map[string][]string{
	Initiator: {"id", "punch", "quic"}, Acceptor: {"id", "punch", "quic"},
}}

var v1 = &Advertised{Users: map[string][]string{Initiator: nil, Acceptor: nil}}

func TestJudge(t *testing.T) {
	for _, c := range []struct {
		name        string
		row, col    string
		first, agn  matrixreport.Path
		sent, deliv int
		ad          *Advertised
		err         error
		want        matrixreport.Verdict
		reason      string
	}{
		{"expected path", "port-restricted-cone", "port-restricted-cone", tcp, dir, 6, 6, v11, nil, matrixreport.Pass, ""},
		{"relay where a punch works", "port-restricted-cone", "port-restricted-cone", relay, relay, 6, 6, v11, nil, matrixreport.Fail, "got relay"},
		{"a lost message", "none", "none", dir, dir, 6, 5, v11, nil, matrixreport.Fail, "1 of 6 messages lost"},
		{"a lost message on the relay", "symmetric", "symmetric", relay, relay, 6, 5, v11, nil, matrixreport.Fail, "lost"},
		{"relay where relay is all", "symmetric", "symmetric", relay, relay, 6, 6, v11, nil, matrixreport.Pass, ""},
		{"a P2P path where none can be", "symmetric", "symmetric", dir, relay, 6, 6, v11, nil, matrixreport.Fail, "got direct"},
		{"recovery off the set", "none", "none", dir, relay, 6, 6, v11, nil, matrixreport.Fail, "recovery got relay"},
		{"v1 client on the relay", "port-restricted-cone", "port-restricted-cone", relay, relay, 6, 6, v1, nil, matrixreport.Unsupported, "not advertised"},
		{"v1 client losing a message", "port-restricted-cone", "port-restricted-cone", relay, relay, 6, 4, v1, nil, matrixreport.Fail, "lost"},
		{"v1 client where direct works", "none", "full-cone", relay, relay, 6, 6, v1, nil, matrixreport.Fail, "got relay"},
		{"a trial not run", "none", "none", "", "", 0, 0, nil, errors.Join(errTrial, errors.New("client did not start")), matrixreport.Error, "did not start"},
	} {
		got := judgeOf(t, c.row, c.col, c.first, c.agn, c.sent, c.deliv, c.ad, c.err)
		if got.Verdict != c.want || !strings.Contains(got.Reason, c.reason) {
			t.Errorf("%s: got %s (%s), want %s (%q)", c.name, got.Verdict, got.Reason, c.want, c.reason)
		}
	}
}
