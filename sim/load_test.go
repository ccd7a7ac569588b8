package sim

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/p2plab/p2plab/scenarios"
)

func TestShippedScenariosLoad(t *testing.T) {
	ss, err := LoadScenarios(scenarios.FS)
	if err != nil {
		t.Fatalf("shipped scenarios do not load:\n%v", err)
	}
	if len(ss) < 8 {
		t.Fatalf("want at least 8 shipped scenarios, got %d", len(ss))
	}
	for _, s := range ss {
		if len(s.Steps) == 0 || s.Requirement == "" || len(s.Clients) < 2 {
			t.Errorf("%s: incomplete: %d steps, %d clients", s.File, len(s.Steps), len(s.Clients))
		}
	}
}

const head = "id: t\nrequirement: r\ntopology: pair\nsteps:\n"

func TestParseScenarioErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"bad port", head + "  - start: server\n  - block: {host: bob, ports: \"70000\"}\n",
			`x.yaml:6:31: steps[1].block.ports: "70000" is not a port`},
		{"unknown step", head + "  - jump: alice\n", `x.yaml:5:5: steps[0].jump: unknown step "jump"`},
		{"unknown field", head + "  - chat: {from: alice, to: bob, content: hi, colour: red}\n",
			`x.yaml:5:47: steps[0].chat.colour: unknown field`},
		{"unknown host", head + "  - cut: zed\n", `x.yaml:5:10: steps[0].cut: no host "zed" in the topology`},
		{"not a client", head + "  - chat: {from: server, to: bob, content: hi}\n", `steps[0].chat.from: "server" is not a client`},
		{"bad via", head + "  - chat: {from: alice, to: bob, content: hi, via: pigeon}\n", `steps[0].chat.via: "pigeon" is not p2p or relay`},
		{"bad duration", head + "  - wait: soon\n", `x.yaml:5:11: steps[0].wait: "soon" is not a duration`},
		{"two keys", head + "  - start: server\n    stop: server\n", `steps[0]: a step is a mapping with exactly one key`},
		{"no such label", head + "  - expect:\n      path: {message: m9, via: p2p}\n", `steps[0].expect.path.message: no earlier chat step has as: "m9"`},
		{"no_event needs during", head + "  - expect:\n      no_event: {at: alice, type: chat_received}\n", `steps[0].expect.during: missing`},
		{"bad event type", head + "  - expect:\n      event: {at: alice, type: exploded}\n", `steps[0].expect.event.type: "exploded" is not an event type`},
		{"missing id", "requirement: r\ntopology: pair\nsteps: []\n", `x.yaml:1:1: id: missing`},
		{"bad level", "id: t\nrequirement: r\nlevel: may\ntopology: pair\nsteps: []\n", `x.yaml:3:8: level: "may" is not must or should`},
		{"no topology", "id: t\nrequirement: r\ntopology: moon\nsteps: []\n", `x.yaml:3:11: topology: no topology "moon"`},
		{"inline bad subnet", "id: t\nrequirement: r\ntopology: {subnet: 10.0.0.0/24, hosts: [server, a, b]}\nsteps: []\n",
			`topology.subnet: 10.0.0.0/24 is outside the lab range`},
		{"bad yaml", "id: [\n", `x.yaml:`},
		{"bad stats cmp", head + "  - expect:\n      stats: {user: alice, uploads: lots}\n", `steps[0].expect.stats.uploads: "lots" is not a count comparison`},
		{"empty host name", "id: t\nrequirement: r\ntopology: {hosts: [server, \"\"]}\nsteps: []\n",
			`x.yaml:3:28: topology.hosts[1]: must not be empty`},
		{"client_args placeholder", "id: t\nrequirement: r\ntopology: pair\nclient_args: [--punch, \"{user}\"]\nsteps: []\n",
			`x.yaml:4:14: client_args: client_args[1]: "{user}": want a non-empty word without placeholders`},
		{"teardown", head + "  - expect:\n      event: {at: alice, type: login}\n      within: teardown*2\n", `steps[0].expect.within: "teardown*2"`},
	}
	fsys := fstest.MapFS{"topologies/pair.yaml": {Data: []byte("hosts: [server, alice, bob]\n")}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseScenario("x.yaml", []byte(tt.text), FSTopologies(fsys))
			if err == nil {
				t.Fatalf("no error; want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error\n%v\nwant it to contain\n%s", err, tt.want)
			}
		})
	}
}

func TestParseScenarioValues(t *testing.T) {
	text := `id: v
requirement: r
topology:
  lans: [{name: a, subnet: 198.18.4.0/24}]
  hosts: [{name: server, lans: [a]}, alice, {name: bob, nics: [{lan: a, addr: 198.18.4.9}]}]
heartbeat: 200ms
misses: 4
client_args: [--punch, --punch-methods, udp-punch]
steps:
  - block: {host: bob, ports: 7000-7100}
  - loss: {host: alice, percent: 20}
  - rate: {host: alice, rate: 2mbit}
  - chat: {from: alice, to: bob, content: hi, as: m1}
  - expect:
      delivered: {message: m1}
      within: teardown+100ms
  - expect:
      event: {at: bob, type: channel_closed, reason: [peer offline, heartbeat timeout]}
`
	s, err := ParseScenario("v.yaml", []byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.ClientArgs, []string{"--punch", "--punch-methods", "udp-punch"}) {
		t.Errorf("client_args %q", s.ClientArgs)
	}
	if got := s.Steps[0].(*BlockStep).Ports; got != [2]uint16{7000, 7100} {
		t.Errorf("ports %v", got)
	}
	if p, r := s.Steps[1].(*LossStep).Percent, s.Steps[2].(*RateStep).Rate; p != 20 || r != 2_000_000 {
		t.Errorf("loss %d rate %d", p, r)
	}
	d := s.Steps[4].(*DeliveredExpectStep)
	if d.Within != 1200*time.Millisecond {
		t.Errorf("within %v, want 1.2s (200ms x 5 + 100ms slack + 100ms)", d.Within)
	}
	if d.Count != 1 {
		t.Errorf("count %d", d.Count)
	}
	if r := s.Steps[5].(*EventExpectStep).Reasons; len(r) != 2 {
		t.Errorf("reasons %v", r)
	}
	if s.Topology.Hosts[2].NICs[0].Addr.String() != "198.18.4.9" || len(s.Clients) != 2 {
		t.Errorf("topology %+v clients %v", s.Topology, s.Clients)
	}
}

func TestPhraseMatcher(t *testing.T) {
	eps := map[string]netipAP{"alice": mustAP("198.18.1.2:40000")}
	tests := []struct {
		pattern, line string
		want          bool
	}{
		{"prepare to create {alice}", "prepare to create alice:198.18.1.2:40000", true},
		{"prepare to create {alice}", "prepare to create alice:198.18.1.2:40001", false},
		{"create failed {alice}: *", "create failed alice:198.18.1.2:40000: connection refused", true},
		{"closed bob: *", "closed bob: peer offline", true},
		{"server Forwarding Message", "server Forwarding Message!", false},
	}
	for _, tt := range tests {
		re, err := phraseMatcher(tt.pattern, eps)
		if err != nil {
			t.Fatal(err)
		}
		if got := re.MatchString(tt.line); got != tt.want {
			t.Errorf("%q vs %q: %v, want %v", tt.pattern, tt.line, got, tt.want)
		}
	}
}

func TestCheckChannels(t *testing.T) {
	a := apiChannel("bob", "1.1.1.1:1", "2.2.2.2:2", "bob")
	b := apiChannel("alice", "2.2.2.2:2", "1.1.1.1:1", "bob")
	bad := apiChannel("alice", "2.2.2.2:2", "1.1.1.1:9", "bob")
	tests := []struct {
		name  string
		state map[string][]apiCh
		x     ChannelsExpect
		want  string
		// sameView nil: the ends see each other as they are
		sameView func(a, b string) bool
	}{
		{"agree", map[string][]apiCh{"alice": {a}, "bob": {b}}, ChannelsExpect{Mesh: []string{"all"}, Exact: true}, "", nil},
		{"one end", map[string][]apiCh{"alice": {a}, "bob": nil}, ChannelsExpect{Pairs: [][2]string{{"alice", "bob"}}}, "only alice has it", nil},
		{"disagree", map[string][]apiCh{"alice": {a}, "bob": {bad}}, ChannelsExpect{Pairs: [][2]string{{"alice", "bob"}}}, "ends disagree", nil},
		{"absent", map[string][]apiCh{"alice": {a}, "bob": {b}}, ChannelsExpect{Absent: [][2]string{{"alice", "bob"}}}, "alice has a channel to bob", nil},
		{"exact", map[string][]apiCh{"alice": {a}, "bob": {b}}, ChannelsExpect{Exact: true}, "unexpected channel", nil},
		{"disagree behind a NAT", map[string][]apiCh{"alice": {a}, "bob": {bad}}, ChannelsExpect{Pairs: [][2]string{{"alice", "bob"}}}, "", func(string, string) bool { return false }},
		{"transport", map[string][]apiCh{"alice": {a}, "bob": {b}}, ChannelsExpect{Pairs: [][2]string{{"alice", "bob"}}, Transport: "udp"}, `transport "tcp", want "udp"`, nil},
		{"transport ok", map[string][]apiCh{"alice": {a}, "bob": {b}}, ChannelsExpect{Pairs: [][2]string{{"alice", "bob"}}, Transport: "tcp"}, "", nil},
		{"method", map[string][]apiCh{"alice": {a}, "bob": {b}}, ChannelsExpect{Pairs: [][2]string{{"alice", "bob"}}, Method: "udp-punch"}, `want "udp-punch"`, nil},
	}
	for _, tt := range tests {
		got := checkChannels(tt.state, tt.x, []string{"alice", "bob"}, tt.sameView)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// Every step kind reads into its own type, which knows its kind, its line
// in the file and how to describe itself.
func TestEveryStepKind(t *testing.T) {
	for _, k := range StepKinds {
		if stepReaders[k] == nil {
			t.Errorf("step kind %q has no reader", k)
		}
	}
	for _, k := range expectKinds {
		if expectReaders[k] == nil {
			t.Errorf("expectation kind %q has no reader", k)
		}
	}
	if len(stepReaders) != len(StepKinds) || len(expectReaders) != len(expectKinds) {
		t.Errorf("%d readers for %d step kinds, %d for %d expectation kinds", len(stepReaders), len(StepKinds), len(expectReaders), len(expectKinds))
	}
	text := head + `  - start: [server, alice, bob]
  - stop: bob
  - kill: alice
  - freeze: bob
  - thaw: bob
  - cut: bob
  - restore: bob
  - block: {host: alice, ports: 7000-7001, reject: true}
  - unblock: alice
  - partition: {host: alice, peer: bob, oneway: true}
  - heal: {host: alice, peer: bob}
  - loss: {host: bob, percent: 5}
  - rate: {host: bob, rate: 1mbit}
  - delay: {host: bob, delay: 20ms}
  - duplicate: {host: bob, percent: 1}
  - flap: {host: bob, down: 10ms, up: 10ms, count: 1}
  - login: alice
  - logout: alice
  - chat: {from: alice, to: bob, content: hi, as: m1, via: p2p}
  - file: {from: bob, to: alice, size: 1KiB}
  - connect: {from: alice, to: bob}
  - wait: 10ms
  - expect: {event: {at: alice, type: login}}
  - expect: {no_event: {at: alice, type: logout}, during: 1s}
  - expect: {channels: {pairs: [[alice, bob]]}}
  - expect: {path: {message: m1, via: p2p}}
  - expect: {log: {at: bob, lines: ["created {alice}"]}}
  - expect: {stats: {user: bob, online: true}}
  - expect: {delivered: {message: m1}}
`
	fsys := fstest.MapFS{"topologies/pair.yaml": {Data: []byte("hosts: [server, alice, bob]\n")}}
	s, err := ParseScenario("all.yaml", []byte(text), FSTopologies(fsys))
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]string(nil), StepKinds[:len(StepKinds)-1]...), expectKinds...)
	if len(s.Steps) != len(want) {
		t.Fatalf("%d steps, want %d", len(s.Steps), len(want))
	}
	for i, st := range s.Steps {
		kind := st.Kind()
		if x, ok := st.(Expectation); ok {
			kind = x.ExpectKind()
			if st.Kind() != StepExpect || st.isAction() {
				t.Errorf("step %d: an expectation of kind %q, action %v", i, st.Kind(), st.isAction())
			}
		} else if !st.isAction() {
			t.Errorf("step %d (%s) is not an action", i, kind)
		}
		if kind != want[i] {
			t.Errorf("step %d: kind %q, want %q", i, kind, want[i])
		}
		if p := st.Position(); p.Line != 5+i || p.Column != 5 || st.base().Index != i {
			t.Errorf("step %d at %v index %d, want all.yaml:%d:5", i, p, st.base().Index, 5+i)
		}
		if d := st.String(); !strings.HasPrefix(d, st.Kind()+" ") {
			t.Errorf("step %d (%s) describes itself as %q, want it to start with %q", i, want[i], d, st.Kind())
		}
	}
}
