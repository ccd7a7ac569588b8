package netlab

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"testing"

	"github.com/vishvananda/netlink"
)

// Rate is all or nothing: when a later link of the host cannot be limited,
// the earlier links keep the root qdisc they had, whether none or an
// earlier Rate's limit. The failure is injected on the second link (the
// kernel refuses a tbf on a veth only in odd states); the first link and
// its qdiscs are real.
func TestRateAllOrNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces)")
	}
	ctx := context.Background()
	topo := Topology{
		LANs:  []LAN{{Name: "l", Subnet: netip.MustParsePrefix("198.18.82.0/24")}, {Name: "m", Subnet: netip.MustParsePrefix("198.18.83.0/24")}},
		Hosts: []HostSpec{{Name: "a", NICs: []NIC{{LAN: "l"}, {LAN: "m"}}}},
	}
	lab, err := New(ctx, NewNetns(), topo, Options{Dir: t.TempDir()})
	if lab != nil {
		t.Cleanup(func() { _ = lab.Close(ctx) })
	}
	if err != nil {
		t.Fatal(err)
	}
	h := lab.Host("a")
	ns, nh, links, err := h.nicLinks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	defer nh.Close()
	first, second := links[0], links[1]
	// rateOf is the first link's root tbf rate in bytes/s, 0 if none.
	rateOf := func() uint64 {
		t.Helper()
		q, err := rootTbf(nh, first)
		if err != nil {
			t.Fatal(err)
		}
		if q == nil {
			return 0
		}
		return q.Rate
	}
	failSecond := func() {
		qdiscReplace = func(nh *netlink.Handle, q netlink.Qdisc) error {
			if q.Attrs().LinkIndex == second.Attrs().Index {
				return errors.New("injected failure")
			}
			return nh.QdiscReplace(q)
		}
	}
	t.Cleanup(func() { qdiscReplace = (*netlink.Handle).QdiscReplace })

	failSecond()
	if _, err := h.Rate(ctx, 2_000_000); err == nil {
		t.Fatal("Rate with a failing second link: no error")
	}
	if r := rateOf(); r != 0 {
		t.Fatalf("after a failed Rate on a host without a limit: first link limited to %d B/s, want no tbf", r)
	}

	qdiscReplace = (*netlink.Handle).QdiscReplace
	undo, err := h.Rate(ctx, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	failSecond()
	if _, err := h.Rate(ctx, 2_000_000); err == nil {
		t.Fatal("Rate with a failing second link: no error")
	}
	if r := rateOf(); r != 1_000_000/8 {
		t.Fatalf("after a failed Rate over a 1 Mbit/s limit: first link at %d B/s, want %d", r, 1_000_000/8)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	if r := rateOf(); r != 0 {
		t.Fatalf("after the undo: first link at %d B/s, want no tbf", r)
	}
}
