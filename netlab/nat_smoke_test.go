package netlab_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

func TestNATSmoke(t *testing.T) {
	topo := netlab.Topology{
		LANs: []netlab.LAN{{Name: "wan", Subnet: netip.MustParsePrefix("198.18.50.0/24")}, {Name: "home", Subnet: netip.MustParsePrefix("198.18.51.0/24")}},
		Hosts: []netlab.HostSpec{
			{Name: "srv", NICs: []netlab.NIC{{LAN: "wan"}}},
			{Name: "nat", NICs: []netlab.NIC{{LAN: "wan"}, {LAN: "home"}}, Router: true, NAT: &netlab.NATSpec{Outside: "wan", Type: netlab.FullCone}},
			{Name: "c", NICs: []netlab.NIC{{LAN: "home"}}},
		},
	}
	ctx := context.Background()
	l, err := netlab.New(ctx, netlab.NewNetns(), topo, netlab.Options{OnEvent: func(e netlab.Event) { t.Log(e) }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	var sc, cc *net.UDPConn
	l.Host("srv").Do(ctx, func() error {
		sc, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.Host("srv").Addr(), 3478)))
		return err
	})
	l.Host("c").Do(ctx, func() error { cc, err = net.ListenUDP("udp", &net.UDPAddr{Port: 4444}); return err })
	if _, err := cc.WriteToUDPAddrPort([]byte("hi"), netip.AddrPortFrom(l.Host("srv").Addr(), 3478)); err != nil {
		t.Fatal(err)
	}
	sc.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 100)
	n, from, err := sc.ReadFromUDPAddrPort(buf)
	t.Log(string(buf[:n]), from, err)
	if err != nil {
		t.Fatal(err)
	}
	sc.WriteToUDPAddrPort([]byte("back"), from)
	cc.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, from2, err := cc.ReadFromUDPAddrPort(buf)
	t.Log(string(buf[:n]), from2, err)
	st, _ := l.Host("nat").NATStats()
	t.Logf("%+v", st)
	// TCP
	var ln net.Listener
	l.Host("srv").Do(ctx, func() error {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(l.Host("srv").Addr(), 80).String())
		return err
	})
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte(c.RemoteAddr().String() + "\n"))
			c.Close()
		}
	}()
	l.Host("c").Do(ctx, func() error {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(l.Host("srv").Addr(), 80).String(), 3*time.Second)
		if err != nil {
			t.Error(err)
			return nil
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(buf)
		t.Log("tcp:", string(buf[:n]), err)
		return nil
	})
}
