package netlab_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// BenchmarkNATNewMappingLab is the NAT's new-mapping rate through the real
// path (NFQUEUE to the engine in this process and back, netns backend):
// b.N UDP sockets behind a symmetric NAT with random ports each send one
// datagram to a server on the WAN, so each makes a new mapping; the rate is
// datagrams (mappings) per second until the server has the last one, with
// at most 256 in flight.
// BenchmarkNATNewMapping (nat_engine_test.go) is the engine alone.
func BenchmarkNATNewMappingLab(b *testing.B) {
	needRoot(b)
	topo := netlab.Topology{
		LANs: []netlab.LAN{{Name: "wan", Subnet: netip.MustParsePrefix("198.18.95.0/24")}, {Name: "home", Subnet: netip.MustParsePrefix("198.18.96.0/24")}},
		Hosts: []netlab.HostSpec{
			{Name: "srv", NICs: []netlab.NIC{{LAN: "wan"}}},
			{Name: "nat", Router: true, NICs: []netlab.NIC{{LAN: "wan"}, {LAN: "home"}}, NAT: &netlab.NATSpec{Outside: "wan", Type: netlab.Symmetric, Ports: netlab.PortsRandom}},
			{Name: "c", NICs: []netlab.NIC{{LAN: "home"}}},
		},
	}
	ctx := context.Background()
	l, err := netlab.New(ctx, netlab.NewNetns(), topo, netlab.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close(ctx)
	// Each mapping holds one socket: stay well below the usual 20,000
	// descriptor limit (the lab and the process hold some too).
	n := min(b.N, 10000)
	dst := netip.AddrPortFrom(l.Host("srv").Addr(), 9000)
	var srv *net.UDPConn
	if err := l.Host("srv").Do(ctx, func() error {
		srv, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(dst))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	_ = srv.SetReadBuffer(8 << 20)
	socks := make([]*net.UDPConn, n)
	if err := l.Host("c").Do(ctx, func() error {
		for i := range socks {
			if socks[i], err = net.ListenUDP("udp4", &net.UDPAddr{}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	defer func() {
		for _, s := range socks {
			if s != nil {
				s.Close()
			}
		}
	}()
	// At most natWindow datagrams in flight: the rate the NAT sustains,
	// not how big a burst its queue absorbs.
	const natWindow = 256
	credit := make(chan struct{}, natWindow)
	for range natWindow {
		credit <- struct{}{}
	}
	got := make(chan int, 1)
	var last time.Time
	go func() {
		buf := make([]byte, 64)
		k := 0
		for k < n {
			_ = srv.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, _, err := srv.ReadFromUDPAddrPort(buf); err != nil {
				break
			}
			k++
			last = time.Now()
			credit <- struct{}{}
		}
		got <- k
	}()
	b.ResetTimer()
	t0 := time.Now()
send:
	for _, s := range socks {
		select {
		case <-credit:
		case <-time.After(2 * time.Second):
			break send // lost datagrams took the credits
		}
		if _, err := s.WriteToUDPAddrPort([]byte("new mapping"), dst); err != nil {
			b.Fatal(err)
		}
	}
	k := <-got
	el := last.Sub(t0)
	b.StopTimer()
	st, _ := l.Host("nat").NATStats()
	if k < n {
		b.Logf("server got %d of %d datagrams (NAT %+v)", k, n, st)
	}
	b.ReportMetric(float64(k)/el.Seconds(), "mappings/s")
	b.ReportMetric(100*float64(n-k)/float64(n), "%lost")
}
