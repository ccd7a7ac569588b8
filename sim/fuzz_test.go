package sim

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// fuzzTopologies resolves "pair" to a small topology and every other name
// to an error, as a scenario folder would.
func fuzzTopologies(name string) (string, []byte, error) {
	if name == "pair" {
		return "topologies/pair.yaml", []byte("hosts: [server, alice, bob]\n"), nil
	}
	return "topologies/" + name + ".yaml", nil, fmt.Errorf("no topology %q", name)
}

// fuzzLimit keeps inputs small: the parser must be fast on small files; a
// huge input only measures the YAML library.
const fuzzLimit = 16 << 10

// FuzzParseScenario feeds arbitrary bytes to the scenario parser. It must
// never panic, must answer within a second, must be deterministic, and
// every error must name the file (file:line:column).
func FuzzParseScenario(f *testing.F) {
	f.Add([]byte("id: x\nrequirement: r\ntopology: pair\nsteps:\n  - start: server\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > fuzzLimit {
			return
		}
		start := time.Now()
		s, err := ParseScenario("fuzz.yaml", data, fuzzTopologies)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("parse took %s for %d bytes", d, len(data))
		}
		_, err2 := ParseScenario("fuzz.yaml", data, fuzzTopologies)
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("not deterministic: %v / %v", err, err2)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") && !strings.Contains(err.Error(), "topologies/") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if s == nil || s.ID == "" {
			t.Fatalf("accepted a scenario without an id: %+v", s)
		}
	})
}

// FuzzParseTopology feeds arbitrary bytes to the topology parser: no
// panic, an answer within a second, errors that name the file, and every
// accepted topology has hosts with names.
func FuzzParseTopology(f *testing.F) {
	f.Add([]byte("hosts: [server, alice, bob]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > fuzzLimit {
			return
		}
		start := time.Now()
		top, err := ParseTopology("fuzz.yaml", data)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("parse took %s for %d bytes", d, len(data))
		}
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, h := range top.Hosts {
			if h.Name == "" {
				t.Fatalf("accepted a host without a name: %+v", top)
			}
		}
	})
}
