package netlab

import (
	"errors"
	"testing"
)

// Two labs whose run ids lead to the same first block still get different
// blocks: the first holds its block, the second moves on.
func TestTakeBlockHeld(t *testing.T) {
	p1, l1, err := takeBlock("p2plsame")
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	p2, l2, err := takeBlock("p2plsame")
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if p1 == p2 || !localRange.Contains(p1.Addr()) || !localRange.Contains(p2.Addr()) || p1.Bits() != 24 {
		t.Fatalf("blocks %s and %s: want two different /24s of %s", p1, p2, localRange)
	}
	// Released, the block is free again.
	l1.Close()
	p3, l3, err := takeBlock("p2plsame")
	if err != nil {
		t.Fatal(err)
	}
	defer l3.Close()
	if p3 != p1 {
		t.Fatalf("after release got %s, want %s again", p3, p1)
	}
}

// A router (and so a NAT) cannot exist where every host shares one
// namespace: the local backend says so before anything is made.
func TestLocalRefusesRouters(t *testing.T) {
	b := NewLocal().(*localBackend)
	topo := Topology{Hosts: []HostSpec{{Name: "gw", Router: true, NICs: []NIC{{LAN: "a"}, {LAN: "b"}}}}}
	if _, err := b.readdress("p2pltest", topo); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("router: %v, want ErrNotSupported", err)
	}
	if b.block != nil {
		t.Fatal("a refused topology holds a loopback block")
	}
}
