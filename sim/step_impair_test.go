package sim

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// The impairment steps (delay, duplicate, flap, and direction on loss and
// rate) read into their types with the values a user wrote.
func TestImpairSteps(t *testing.T) {
	text := head + `  - delay: {host: bob, delay: 200ms, jitter: 20ms, reorder: true, direction: in}
  - delay: {host: bob, delay: 0}
  - delay: {host: alice, delay: 1s}
  - duplicate: {host: bob, percent: 2.5%}
  - duplicate: {host: bob, percent: 10, direction: out}
  - flap: {host: bob, down: 100ms, up: 2s, count: 3}
  - flap: {host: bob, count: 0}
  - loss: {host: bob, percent: 30, direction: out}
  - loss: {host: bob, percent: 30}
  - rate: {host: bob, rate: 1mbit, direction: both}
  - rate: {host: bob, rate: 1mbit}
`
	fsys := fstest.MapFS{"topologies/pair.yaml": {Data: []byte("hosts: [server, alice, bob]\n")}}
	s, err := ParseScenario("i.yaml", []byte(text), FSTopologies(fsys))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		step Step
		str  string
	}{
		{&DelayStep{Host: "bob", Delay: 200 * time.Millisecond, Jitter: 20 * time.Millisecond, Reorder: true, Direction: netlab.In}, "delay bob 200ms ±20ms reordering inbound"},
		{&DelayStep{Host: "bob", Direction: netlab.Both}, "delay bob removed"},
		{&DelayStep{Host: "alice", Delay: time.Second, Direction: netlab.Both}, "delay alice 1s both ways"},
		{&DuplicateStep{Host: "bob", Percent: 2.5, Direction: netlab.Both}, "duplicate bob 2.5% both ways"},
		{&DuplicateStep{Host: "bob", Percent: 10, Direction: netlab.Out}, "duplicate bob 10% outbound"},
		{&FlapStep{Host: "bob", Flap: netlab.Flap{Down: 100 * time.Millisecond, Up: 2 * time.Second, Count: 3}}, "flap bob down 100ms, up 2s, 3 times"},
		{&FlapStep{Host: "bob"}, "flap bob stopped"},
		{&LossStep{Host: "bob", Percent: 30, Direction: netlab.Out}, "loss bob 30% outbound"},
		{&LossStep{Host: "bob", Percent: 30}, "loss bob 30%"},
		{&RateStep{Host: "bob", Rate: 1_000_000, Direction: netlab.Both}, "rate bob 1000000 bit/s both ways"},
		{&RateStep{Host: "bob", Rate: 1_000_000}, "rate bob 1000000 bit/s"},
	}
	if len(s.Steps) != len(want) {
		t.Fatalf("%d steps, want %d", len(s.Steps), len(want))
	}
	for i, w := range want {
		got := s.Steps[i]
		w.step.base().Index, w.step.base().At = got.base().Index, got.base().At
		if g, e := strings.TrimSpace(jsonOf(t, got)), strings.TrimSpace(jsonOf(t, w.step)); g != e || got.Kind() != w.step.Kind() {
			t.Errorf("step %d: %s %s, want %s %s", i, got.Kind(), g, w.step.Kind(), e)
		}
		if got.String() != w.str {
			t.Errorf("step %d: String() = %q, want %q", i, got.String(), w.str)
		}
	}
}

// Each bad value of an impairment step is refused at its file:line:column,
// naming the field.
func TestImpairStepErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"delay missing", "  - delay: {host: bob}\n", `x.yaml:5:12: steps[0].delay.delay: missing`},
		{"delay not a duration", "  - delay: {host: bob, delay: soon}\n", `x.yaml:5:31: steps[0].delay.delay: "soon" is not a duration`},
		{"delay negative", "  - delay: {host: bob, delay: -5ms}\n", `x.yaml:5:31: steps[0].delay.delay: "-5ms" is not a duration`},
		{"delay too long", "  - delay: {host: bob, delay: 11s}\n", `x.yaml:5:31: steps[0].delay.delay: 11s is over the limit of 10s`},
		{"jitter over delay", "  - delay: {host: bob, delay: 10ms, jitter: 20ms}\n", `x.yaml:5:45: steps[0].delay.jitter: 20ms exceeds the delay (10ms)`},
		{"jitter on removal", "  - delay: {host: bob, delay: 0, jitter: 1ms}\n", `x.yaml:5:42: steps[0].delay.jitter: delay 0 removes the delay; no jitter here`},
		{"reorder without jitter", "  - delay: {host: bob, delay: 10ms, reorder: true}\n", `x.yaml:5:46: steps[0].delay.reorder: reorder needs a jitter`},
		{"bad direction", "  - delay: {host: bob, delay: 10ms, direction: up}\n", `x.yaml:5:48: steps[0].delay.direction: "up" is not in, out or both`},
		{"delay unknown host", "  - delay: {host: zed, delay: 10ms}\n", `x.yaml:5:19: steps[0].delay.host: no host "zed" in the topology`},
		{"delay unknown field", "  - delay: {host: bob, delay: 10ms, loss: 1}\n", `x.yaml:5:37: steps[0].delay.loss: unknown field`},
		{"duplicate missing", "  - duplicate: {host: bob}\n", `x.yaml:5:16: steps[0].duplicate.percent: missing`},
		{"duplicate over 100", "  - duplicate: {host: bob, percent: 120}\n", `x.yaml:5:37: steps[0].duplicate.percent: "120" is not a percentage in 0-100`},
		{"duplicate bad direction", "  - duplicate: {host: bob, percent: 1, direction: sideways}\n", `steps[0].duplicate.direction: "sideways" is not in, out or both`},
		{"flap missing count", "  - flap: {host: bob, down: 1s, up: 1s}\n", `x.yaml:5:11: steps[0].flap.count: missing`},
		{"flap count too big", "  - flap: {host: bob, down: 1s, up: 1s, count: 20000}\n", `x.yaml:5:48: steps[0].flap.count: 20000 is out of range 0..10000`},
		{"flap missing up", "  - flap: {host: bob, down: 1s, count: 2}\n", `x.yaml:5:11: steps[0].flap.up: missing`},
		{"flap down too short", "  - flap: {host: bob, down: 100us, up: 1s, count: 2}\n", `x.yaml:5:29: steps[0].flap.down: 100µs is outside 1ms-1h`},
		{"flap stop with down", "  - flap: {host: bob, down: 1s, count: 0}\n", `x.yaml:5:29: steps[0].flap.down: count 0 stops the flap; no down here`},
		{"loss bad direction", "  - loss: {host: bob, percent: 5, direction: left}\n", `x.yaml:5:46: steps[0].loss.direction: "left" is not in, out or both`},
		{"rate bad direction", "  - rate: {host: bob, rate: 1mbit, direction: down}\n", `x.yaml:5:47: steps[0].rate.direction: "down" is not in, out or both`},
		{"rate in too low", "  - rate: {host: bob, rate: 1kbit, direction: in}\n", `x.yaml:5:29: steps[0].rate.rate: 1000 bit/s is below the minimum of 8000 inbound`},
	}
	fsys := fstest.MapFS{"topologies/pair.yaml": {Data: []byte("hosts: [server, alice, bob]\n")}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseScenario("x.yaml", []byte(head+tt.text), FSTopologies(fsys))
			if err == nil {
				t.Fatalf("no error; want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error\n%v\nwant it to contain\n%s", err, tt.want)
			}
		})
	}
}

// jsonOf is v as JSON, to compare steps field by field.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
