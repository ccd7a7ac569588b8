package netlab

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// nftRule is the expressions of one rule.
type nftRule []expr.Any

// notLoopback matches packets that did not arrive on lo: faults act on the
// lab network, never on a host talking to itself.
func notLoopback() []expr.Any {
	lo := make([]byte, unix.IFNAMSIZ)
	copy(lo, "lo")
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: lo},
	}
}

// blockRule: tcp dport first-last (any port if both 0), SYN without ACK, then
// drop or reject with a TCP reset.
func blockRule(first, last uint16, reject bool) nftRule {
	r := append(notLoopback(),
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
	)
	if first != 0 || last != 0 {
		r = append(r,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: binaryutil.BigEndian.PutUint16(first), ToData: binaryutil.BigEndian.PutUint16(last)},
		)
	}
	// A new connection is a SYN without ACK. (Not "ct state new": conntrack
	// starts tracking in a namespace only once a rule needs it, and then
	// picks up connections that were established before as new.)
	r = append(r,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0x12}, Xor: []byte{0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0x02}},
	)
	if reject {
		return append(r, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
	}
	return append(r, &expr.Verdict{Kind: expr.VerdictDrop})
}

// dropFromRule drops every IPv4 packet whose source is addr.
func dropFromRule(addr netip.Addr) nftRule {
	a := addr.As4()
	return append(notLoopback(),
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
		&expr.Verdict{Kind: expr.VerdictDrop},
	)
}

// lossRule drops a packet when numgen random mod 100 < percent.
func lossRule(percent int) nftRule {
	return append(notLoopback(),
		&expr.Numgen{Register: 1, Modulus: 100, Type: unix.NFT_NG_RANDOM},
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binaryutil.BigEndian.PutUint32(uint32(percent))},
		&expr.Verdict{Kind: expr.VerdictDrop},
	)
}

// dropFromRules is one dropFromRule per address.
func dropFromRules(addrs []netip.Addr) []nftRule {
	var out []nftRule
	for _, a := range addrs {
		out = append(out, dropFromRule(a))
	}
	return out
}

// nftAdd creates table name (family inet) in ns with an input chain
// (filter hook, priority filter, policy accept) holding rules, in one
// transaction.
func nftAdd(ns netns.NsHandle, name string, rules []nftRule) error {
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	defer c.CloseLasting()
	t := c.AddTable(&nftables.Table{Name: name, Family: nftables.TableFamilyINet})
	accept := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{
		Name:     "input",
		Table:    t,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookInput,
		Priority: nftables.ChainPriorityFilter,
		Policy:   &accept,
	})
	for _, r := range rules {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: r})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: add table %s: %w", name, err)
	}
	return nil
}

// nftDel deletes table name from ns; a table that is gone already is fine.
func nftDel(ns netns.NsHandle, name string) error {
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	defer c.CloseLasting()
	c.DelTable(&nftables.Table{Name: name, Family: nftables.TableFamilyINet})
	if err := c.Flush(); err != nil {
		if errors.Is(err, unix.ENOENT) { // the kernel has no such table
			return nil
		}
		return fmt.Errorf("nftables: delete table %s: %w", name, err)
	}
	return nil
}

// nftTables lists the names of the tables in ns (any family) that start
// with prefix.
func nftTables(ns netns.NsHandle, prefix string) ([]*nftables.Table, error) {
	var opts []nftables.ConnOption
	if ns >= 0 {
		opts = append(opts, nftables.WithNetNSFd(int(ns)))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	defer c.CloseLasting()
	ts, err := c.ListTables()
	if err != nil {
		return nil, fmt.Errorf("nftables: list tables: %w", err)
	}
	var out []*nftables.Table
	for _, t := range ts {
		if strings.HasPrefix(t.Name, prefix) {
			out = append(out, t)
		}
	}
	return out, nil
}

// NftTables lists the names of the nft tables (any family) in the
// machine's own network namespace, for leak checks.
func NftTables() ([]string, error) {
	ts, err := nftTables(netns.None(), "")
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out, nil
}
