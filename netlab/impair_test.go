package netlab_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// TestResolveRefusesImpairments: a bad impairment in a topology is refused
// by Resolve (so New makes nothing), naming the host, the NIC and the field.
func TestResolveRefusesImpairments(t *testing.T) {
	l := lan("l", "198.18.90.0/24")
	m := lan("m", "198.18.91.0/24")
	nic := func(im netlab.Impairment) netlab.Topology {
		return netlab.Topology{LANs: []netlab.LAN{l}, Hosts: []netlab.HostSpec{{Name: "a", NICs: []netlab.NIC{{LAN: "l", Impair: &im}}}}}
	}
	for _, c := range []struct {
		name string
		topo netlab.Topology
		want string
	}{
		{"negative delay", nic(netlab.Impairment{Delay: -time.Millisecond}), `host "a": NIC on LAN "l": impair: delay: -1ms is negative`},
		{"absurd delay", nic(netlab.Impairment{Delay: time.Minute}), `host "a": NIC on LAN "l": impair: delay: 1m0s is over the limit of 10s`},
		{"jitter over delay", nic(netlab.Impairment{Delay: time.Millisecond, Jitter: 3 * time.Millisecond, Reorder: true}), `impair: jitter: 3ms exceeds the delay (1ms)`},
		{"loss over 100", nic(netlab.Impairment{Loss: 100.5}), `impair: loss: 100.5% is outside 0-100`},
		{"negative duplicate", nic(netlab.Impairment{Duplicate: -2}), `impair: duplicate: -2% is outside 0-100`},
		{"tiny rate", nic(netlab.Impairment{Rate: 100}), `impair: rate: 100 bit/s is below the minimum of 8000`},
		{"unknown direction", nic(netlab.Impairment{Delay: time.Millisecond, Direction: "inward"}), `impair: direction: "inward" is not in, out or both`},
		{"host impair with two NICs", netlab.Topology{LANs: []netlab.LAN{l, m}, Hosts: []netlab.HostSpec{{Name: "r", Router: true, Impair: &netlab.Impairment{Delay: time.Millisecond}, NICs: []netlab.NIC{{LAN: "l"}, {LAN: "m"}}}}}, `host "r": impair: the host has 2 NICs`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.topo.Resolve()
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, netlab.ErrBadImpairment) {
				t.Fatalf("got %v, want %q (and ErrBadImpairment)", err, c.want)
			}
			// New refuses it too, before anything exists: the backend is
			// never asked to create anything.
			if _, err := netlab.New(context.Background(), nil, c.topo, netlab.Options{}); !errors.Is(err, netlab.ErrBadImpairment) {
				t.Fatalf("New: %v", err)
			}
		})
	}
}

// TestResolveCopiesImpairment: the resolved topology carries its own copy
// (the caller's value can change without changing a running lab's).
func TestResolveCopiesImpairment(t *testing.T) {
	im := &netlab.Impairment{Delay: 5 * time.Millisecond}
	topo := netlab.Topology{LANs: []netlab.LAN{lan("l", "198.18.92.0/24")}, Hosts: []netlab.HostSpec{{Name: "a", Impair: im, NICs: []netlab.NIC{{LAN: "l", Addr: netip.Addr{}}}}}}
	rt, err := topo.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	im.Delay = time.Second
	if got := rt.Hosts[0].NICs[0].Impair; got == nil || got.Delay != 5*time.Millisecond {
		t.Fatalf("resolved impair %+v", got)
	}
}
