package sim

import (
	"errors"
	"strings"
	"testing"
)

// The impairment steps on a real lab, judged by what a user sees: a chat
// through a delay is still delivered (once, through duplication), and a
// chat whose `within` is shorter than the delay FAILS, so the delay is
// there; after `delay: 0` the same short `within` passes again, so the
// step removes it; and a flap is stopped (links up) by `count: 0`.
// impairHead is verdictHead with heartbeats that outlast a 400 ms delay
// each way (a heartbeat of 200 ms with 2 misses would tear the channel
// down).
var impairHead = strings.NewReplacer("heartbeat: 200ms", "heartbeat: 1s", "misses: 2", "misses: 3").Replace(verdictHead)

func TestImpairStepsRun(t *testing.T) {
	bin := buildP2plab(t)
	tests := []struct {
		name string
		text string
		pass bool
		want []string
	}{
		{name: "delay over within fails", text: impairHead + `  - delay: {host: bob, delay: 400ms, direction: in}
  - chat: {from: alice, to: bob, content: "slow", via: p2p, within: 150ms}
`, want: []string{"chat_received at bob within 150ms of the last action"}},
		{name: "delay under within passes", pass: true, text: impairHead + `  - delay: {host: bob, delay: 400ms, jitter: 20ms, direction: in}
  - chat: {from: alice, to: bob, content: "slow", as: m1, via: p2p, within: 3s}
  - duplicate: {host: bob, percent: 50}
  - chat: {from: alice, to: bob, content: "twice?", as: m2, via: p2p, within: 3s}
  - expect:
      delivered: {message: m2, count: 1}
      during: 1s
  - delay: {host: bob, delay: 0}
  - duplicate: {host: bob, percent: 0}
  - chat: {from: alice, to: bob, content: "fast", via: p2p, within: 150ms}
`},
		{name: "outbound delay", text: impairHead + `  - delay: {host: alice, delay: 400ms, direction: out}
  - chat: {from: alice, to: bob, content: "slow", via: p2p, within: 150ms}
`, want: []string{"chat_received at bob within 150ms of the last action"}},
		{name: "inbound delay does not slow what the host sends", pass: true, text: impairHead + `  - delay: {host: alice, delay: 400ms, direction: in}
  - chat: {from: alice, to: bob, content: "fast", via: p2p, within: 150ms}
`},
		{name: "flap stopped", pass: true, text: impairHead + `  - flap: {host: bob, down: 5s, up: 1s, count: 5}
  - wait: 100ms
  - flap: {host: bob, count: 0}
  - chat: {from: alice, to: bob, content: "links up", within: 3s}
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runYAML(t, bin, BackendNetns, tt.text)
			if tt.pass {
				if !r.Passed {
					t.Fatalf("want PASS, got %s:\n%s", r.Verdict, r.Error)
				}
				return
			}
			if r.Passed {
				t.Fatalf("want FAIL, the scenario passed: the delay did not act")
			}
			if r.Verdict != VerdictFail || !errors.Is(r.Err, ErrDeadline) {
				t.Fatalf("verdict %q (%v), want %q with ErrDeadline", r.Verdict, r.Err, VerdictFail)
			}
			t.Logf("FAIL as it must:\n%s", firstLines(r.Error, 4))
			for _, w := range tt.want {
				if !strings.Contains(r.Error, w) {
					t.Errorf("error does not name %q:\n%s", w, r.Error)
				}
			}
		})
	}
}
