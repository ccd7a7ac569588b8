package netlab

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TestNfqueueTargetEncoding pins struct xt_NFQ_info_v3 (queuenum,
// queues_total, flags as host-order u16, padded to 8 bytes).
func TestNfqueueTargetEncoding(t *testing.T) {
	tg := nfqueueTarget(0x0102)
	if tg.Name != "NFQUEUE" || tg.Rev != 3 {
		t.Fatalf("target %s rev %d, want NFQUEUE rev 3", tg.Name, tg.Rev)
	}
	got := []byte(*tg.Info.(*xt.Unknown))
	want := []byte{0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0, 0}
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 { // little endian
		want = []byte{0x02, 0x01, 0x01, 0x00, 0x01, 0x00, 0, 0}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("info % x, want % x", got, want)
	}
}

// queueLab is a two-host lab on its own subnet; it returns the hosts and
// the name of b's interface.
func queueLab(t *testing.T, subnet string) (*Lab, *Host, *Host, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces)")
	}
	ctx := context.Background()
	topo := Topology{
		LANs:  []LAN{{Name: "l", Subnet: netip.MustParsePrefix(subnet)}},
		Hosts: []HostSpec{{Name: "a", NICs: []NIC{{LAN: "l"}}}, {Name: "b", NICs: []NIC{{LAN: "l"}}}},
	}
	lab, err := New(ctx, NewNetns(), topo, Options{Dir: t.TempDir()})
	if lab != nil {
		t.Cleanup(func() { _ = lab.Close(ctx) })
	}
	if err != nil {
		t.Fatal(err)
	}
	b := lab.Host("b")
	ns, nh, links, err := b.nicLinks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ns.Close()
	nh.Close()
	return lab, lab.Host("a"), b, links[0].Attrs().Name
}

// udpPair listens on b:port and dials it from a.
func udpPair(t *testing.T, a, b *Host, port uint16) (tx, rx *net.UDPConn) {
	t.Helper()
	ctx := context.Background()
	if err := b.Do(ctx, func() (err error) {
		rx, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(b.Addr(), port)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	if err := a.Do(ctx, func() (err error) {
		tx, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(b.Addr(), port)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	return tx, rx
}

// receiveAll reads datagrams until none comes for quiet.
func receiveAll(rx *net.UDPConn, quiet time.Duration) []string {
	var got []string
	buf := make([]byte, 2048)
	for {
		_ = rx.SetReadDeadline(time.Now().Add(quiet))
		n, err := rx.Read(buf)
		if err != nil {
			return got
		}
		got = append(got, string(buf[:n]))
	}
}

// TestQueuePassesPackets proves packets really pass through a Queue: the
// handler counts every datagram, drops the odd ones and rewrites one; the
// receiver gets exactly the even ones, the rewritten one changed; Close
// removes the table and traffic flows unqueued again.
func TestQueuePassesPackets(t *testing.T) {
	lab, a, b, nic := queueLab(t, "198.18.84.0/24")
	ctx := context.Background()
	tx, rx := udpPair(t, a, b, 9100)
	ns, err := lab.b.NetNS(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	var seen atomic.Int32
	table := lab.id + "-qtest"
	q, err := OpenQueue(ctx, ns, table, 7, QueueRule{
		Hook: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw,
		IIF: nic, Proto: unix.IPPROTO_UDP,
	}, QueueConfig{}, func(q *Queue, p Packet) {
		seen.Add(1)
		ihl := int(p.Payload[0]&0x0f) * 4
		body := p.Payload[ihl+8:]
		var n int
		fmt.Sscanf(string(body), "m%d", &n)
		switch {
		case n%2 == 1:
			_ = q.Drop(p.ID)
		case n == 4:
			mod := bytes.Clone(p.Payload)
			mod[ihl+8] = 'M'              // m4 -> M4
			mod[ihl+6], mod[ihl+7] = 0, 0 // no UDP checksum (allowed on IPv4)
			_ = q.AcceptModified(p.ID, mod)
		case n == 6:
			// a held verdict: the packet waits in the kernel meanwhile
			time.AfterFunc(100*time.Millisecond, func() { _ = q.Accept(p.ID) })
		default:
			_ = q.Accept(p.ID)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if ts, err := nftTables(ns, table); err != nil || len(ts) != 1 {
		t.Fatalf("tables %v, %v: want %s", ts, err, table)
	}
	checkQueueRule(t, ns, table, 7)
	sent := time.Now()
	for i := range 10 {
		if _, err := fmt.Fprintf(tx, "m%d", i); err != nil {
			t.Fatal(err)
		}
	}
	got := receiveAll(rx, time.Second)
	want := []string{"m0", "m2", "M4", "m8", "m6"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("received %q, want %q", got, want)
	}
	if seen.Load() != 10 {
		t.Errorf("handler saw %d packets, want 10", seen.Load())
	}
	if el := time.Since(sent); el < 100*time.Millisecond {
		t.Errorf("held packet came after %v, before its verdict", el)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if ts, err := nftTables(ns, table); err != nil || len(ts) != 0 {
		t.Fatalf("after Close: tables %v, %v", ts, err)
	}
	for i := range 3 {
		fmt.Fprintf(tx, "m%d", 2*i+1)
	}
	if got := receiveAll(rx, time.Second); len(got) != 3 {
		t.Errorf("after Close received %q, want the 3 odd datagrams", got)
	}
}

// checkQueueRule reads the rule back from the kernel: it ends in the xt
// NFQUEUE target, revision 3, for queue num.
func checkQueueRule(t *testing.T, ns netns.NsHandle, table string, num uint16) {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseLasting()
	tb := &nftables.Table{Name: table, Family: nftables.TableFamilyINet}
	rules, err := c.GetRules(tb, &nftables.Chain{Name: "queue", Table: tb})
	if err != nil || len(rules) != 1 {
		t.Fatalf("rules %v, %v", rules, err)
	}
	ex := rules[0].Exprs
	tg, ok := ex[len(ex)-1].(*expr.Target)
	if !ok || tg.Name != "NFQUEUE" || tg.Rev != 3 {
		t.Fatalf("last expression %#v, want the NFQUEUE target rev 3", ex[len(ex)-1])
	}
	info, ok := tg.Info.(*xt.Unknown)
	if !ok || len(*info) < 2 || binary.NativeEndian.Uint16(*info) != num {
		t.Fatalf("target info %#v, want queue %d", tg.Info, num)
	}
}

// TestQueueBypassWhenNobodyListens: when the queue's socket is gone (the
// process died) but its rule is left, packets pass unqueued instead of
// vanishing (the NFQUEUE bypass flag): a crashed run's leftover table does
// not black-hole the host until `p2plab clean`.
func TestQueueBypassWhenNobodyListens(t *testing.T) {
	lab, a, b, nic := queueLab(t, "198.18.86.0/24")
	ctx := context.Background()
	tx, rx := udpPair(t, a, b, 9110)
	ns, err := lab.b.NetNS(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	table := lab.id + "-qbypass"
	q, err := OpenQueue(ctx, ns, table, 8, QueueRule{
		Hook: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw, IIF: nic, Proto: unix.IPPROTO_UDP,
	}, QueueConfig{}, func(q *Queue, p Packet) { _ = q.Drop(p.ID) })
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	fmt.Fprintf(tx, "dropped")
	if got := receiveAll(rx, 500*time.Millisecond); len(got) != 0 {
		t.Fatalf("with the handler listening: received %q, want nothing", got)
	}
	// as if the process died: the socket closes, the table stays
	q.cancel()
	if err := q.nf.Close(); err != nil {
		t.Fatal(err)
	}
	if ts, err := nftTables(ns, table); err != nil || len(ts) != 1 {
		t.Fatalf("tables %v, %v: want the rule left behind", ts, err)
	}
	for range 3 {
		fmt.Fprintf(tx, "bypassed")
	}
	if got := receiveAll(rx, time.Second); len(got) != 3 {
		t.Errorf("with nobody on the queue: received %q, want 3 datagrams", got)
	}
	if err := nftDel(ns, table); err != nil {
		t.Fatal(err)
	}
}
