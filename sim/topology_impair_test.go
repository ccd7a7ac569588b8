package sim

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

func TestTopologyImpair(t *testing.T) {
	const doc = `lans:
  - {name: wan, subnet: 198.18.10.0/24}
  - {name: home1, subnet: 198.18.11.0/24}
hosts:
  - {name: server, lans: [wan], impair: {delay: 40ms, jitter: 5ms}}
  - name: r
    router: true
    nics:
      - {lan: wan, impair: {loss: 1%, duplicate: 0.5, rate: 10mbit, direction: out}}
      - {lan: home1}
`
	top, err := ParseTopology("t.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if im := top.Hosts[0].Impair; im == nil || im.Delay != 40*time.Millisecond || im.Jitter != 5*time.Millisecond {
		t.Errorf("server impair %+v", im)
	}
	want := netlab.Impairment{Loss: 1, Duplicate: 0.5, Rate: 10_000_000, Direction: netlab.Out}
	if im := top.Hosts[1].NICs[0].Impair; im == nil || *im != want {
		t.Errorf("r wan impair %+v, want %+v", im, want)
	}
	rt, err := top.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if im := rt.Hosts[0].NICs[0].Impair; im == nil || im.Delay != 40*time.Millisecond {
		t.Errorf("resolved: host-level impair not on the NIC: %+v", im)
	}
}

// TestTopologyImpairBad: every bad value is refused at its own line and
// column, naming the host and NIC.
func TestTopologyImpairBad(t *testing.T) {
	for _, c := range []struct{ impair, want string }{
		{"{delay: -5ms}", "t.yaml:4:47: hosts[1].nics[0].impair.delay: host \"b\", NIC on LAN \"l\": impair: delay: -5ms is negative"},
		{"{delay: 20s}", "t.yaml:4:47: hosts[1].nics[0].impair.delay: host \"b\", NIC on LAN \"l\": impair: delay: 20s is over the limit"},
		{"{delay: 1ms, jitter: 2ms}", "impair.jitter: host \"b\", NIC on LAN \"l\": impair: jitter: 2ms exceeds the delay"},
		{"{loss: 150%}", "t.yaml:4:46: hosts[1].nics[0].impair.loss: host \"b\", NIC on LAN \"l\": impair: loss: 150% is outside 0-100"},
		{"{duplicate: x}", "impair.duplicate: host \"b\", NIC on LAN \"l\": \"x\" is not a percentage"},
		{"{direction: up}", "impair.direction: host \"b\", NIC on LAN \"l\": impair: direction: \"up\" is not in, out or both"},
		{"{rate: 10bit}", "impair.rate: host \"b\", NIC on LAN \"l\": impair: rate: 10 bit/s is below the minimum"},
		{"{delay: 1ms, speed: 2}", "impair.speed"},
	} {
		doc := "lans: [{name: l, subnet: 198.18.12.0/24}]\nhosts:\n  - {name: a, lans: [l]}\n  - {name: b, nics: [{lan: l, impair: " + c.impair + "}]}\n"
		_, err := ParseTopology("t.yaml", []byte(doc))
		var fe FileErrors
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.impair, err, c.want)
		}
	}
	_, err := ParseTopology("t.yaml", []byte("lans: [{name: l, subnet: 198.18.12.0/24}, {name: m, subnet: 198.18.13.0/24}]\nhosts:\n  - {name: r, lans: [l, m], impair: {delay: 1ms}}\n"))
	if err == nil || !strings.Contains(err.Error(), "t.yaml:3:37: hosts[0].impair: host \"r\": impair on a host with 2 NICs") {
		t.Errorf("impair on a two-NIC host: %v", err)
	}
}
