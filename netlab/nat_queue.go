package netlab

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The NFQUEUE plumbing of a NAT router (docs/netlab.md, "NAT routers"): in
// the router's namespace,
//
//   - a prerouting queue takes every IPv4 packet arriving on the outside
//     NIC: TCP and UDP for the outside address are translated by the
//     engine's inbound (or dropped), packets for an inside LAN are dropped
//     (the outside never reaches the inside without a mapping), the rest
//     (ICMP for the router, broadcasts) pass untouched;
//   - a forward queue per inside NIC takes every packet leaving by the
//     outside NIC: the engine translates its source (outbound); anything
//     but unfragmented TCP and UDP is dropped, so no inside address leaks;
//   - a prerouting rule per inside NIC sends TCP and UDP for the outside
//     address to the first queue (hairpinning), or drops it when
//     hairpinning is off.
//
// The engine runs in the lab process; the queue sockets are opened in the
// router's namespace, so this works wherever Backend.NetNS does (netns
// namespaces and docker containers alike). Everything belongs to the lab:
// Lab.Close removes it, and a crashed run's tables go with its namespaces
// or containers (Clean).

// natQueueBase is the first NFQUEUE number a NAT router uses in its
// namespace (one per NIC, in NIC order), well apart from other queues.
const natQueueBase = 20000

// natSweep is how often expired mappings are swept from the table.
const natSweep = time.Second

// natRouter is the running NAT of one router host.
type natRouter struct {
	host   string
	eng    *natEngine
	queues []*Queue
	ns     netns.NsHandle
	table  string // the hairpin table
	stop   context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

// startNATs brings up the NAT of every router host that has one.
func (l *Lab) startNATs(ctx context.Context) error {
	for _, h := range l.hosts {
		if h.spec.NAT == nil {
			continue
		}
		r, err := h.startNAT(ctx)
		if err != nil {
			return fmt.Errorf("netlab: host %s: nat: %w", h.Name(), err)
		}
		l.mu.Lock()
		l.nats = append(l.nats, r)
		l.mu.Unlock()
		l.event(h.Name(), "nat", fmt.Sprintf("outside %s (%s): %s", h.spec.NAT.Outside, r.eng.public, r.eng.prof))
	}
	return nil
}

// stopNATs stops every NAT router (Close, or a failed New).
func (l *Lab) stopNATs() []error {
	l.mu.Lock()
	nats := l.nats
	l.nats = nil
	l.mu.Unlock()
	var errs []error
	for _, r := range nats {
		if err := r.close(); err != nil {
			errs = append(errs, err)
		}
		l.event(r.host, "nat-stop", fmt.Sprintf("%+v", r.eng.Stats()))
	}
	return errs
}

// NATStats returns the counters of the host's NAT, and false if the host
// has no NAT running.
func (h *Host) NATStats() (NATStats, bool) {
	h.lab.mu.Lock()
	defer h.lab.mu.Unlock()
	for _, r := range h.lab.nats {
		if r.host == h.Name() {
			return r.eng.Stats(), true
		}
	}
	return NATStats{}, false
}

// startNAT makes the router's queues and rules and starts its engine.
func (h *Host) startNAT(ctx context.Context) (_ *natRouter, err error) {
	spec := h.spec.NAT
	prof, err := spec.Profile()
	if err != nil {
		return nil, err
	}
	ns, nh, links, err := h.nicLinks(ctx)
	if err != nil {
		return nil, err
	}
	nh.Close()
	seed := fnv.New64a()
	seed.Write([]byte(h.lab.id + h.Name()))
	r := &natRouter{host: h.Name(), ns: ns}
	defer func() {
		if err != nil {
			_ = r.close()
		}
	}()
	var outside string
	var public netip.Addr
	var inside []string
	var insideNets []netip.Prefix
	for i, n := range h.spec.NICs {
		if n.LAN == spec.Outside {
			outside, public = links[i].Attrs().Name, n.Addr
			continue
		}
		inside = append(inside, links[i].Attrs().Name)
		for _, lan := range h.lab.topo.LANs {
			if lan.Name == n.LAN {
				insideNets = append(insideNets, lan.Subnet)
			}
		}
	}
	r.eng = newNATEngine(prof, public, nil, seed.Sum64())
	isInside := func(a netip.Addr) bool {
		for _, p := range insideNets {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}

	// Hairpinned packets get the sender's outside address as their source
	// before routing, so the inside NICs must accept packets from a local
	// address; no redirects either (the answer to a hairpin is the NAT).
	if err := inNS(ns, func() error {
		keys := []string{"net/ipv4/conf/all/send_redirects", "net/ipv4/conf/all/rp_filter"}
		vals := []string{"0", "0"}
		for _, in := range inside {
			keys = append(keys, "net/ipv4/conf/"+in+"/accept_local", "net/ipv4/conf/"+in+"/rp_filter", "net/ipv4/conf/"+in+"/send_redirects")
			vals = append(vals, "1", "0", "0")
		}
		for i, k := range keys {
			if err := writeSysctl(k, vals[i]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("sysctl: %w", err)
	}

	qctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.stop = cancel
	cfg := QueueConfig{MaxLen: 4096}
	inNum := uint16(natQueueBase)
	in, err := OpenQueue(qctx, ns, fmt.Sprintf("%s-nat%d", h.lab.id, h.lab.nextSeq()), inNum, QueueRule{
		Hook: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw, IIF: outside,
	}, cfg, func(q *Queue, p Packet) {
		b := p.Payload
		var v natVerdict
		switch {
		case len(b) < 20:
			v = natDrop
		case addr4(b[16:20]) != public:
			v = natUntouched
			if isInside(addr4(b[16:20])) {
				v = natDrop // the outside does not reach the inside
			}
		case isInside(addr4(b[12:16])):
			v = r.eng.hairpin(b)
		default:
			v = r.eng.inbound(b)
		}
		verdict(q, p, v)
	})
	if err != nil {
		return nil, err
	}
	r.queues = append(r.queues, in)
	for i, ifc := range inside {
		q, err := OpenQueue(qctx, ns, fmt.Sprintf("%s-nat%d", h.lab.id, h.lab.nextSeq()), uint16(natQueueBase+1+i), QueueRule{
			Hook: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, IIF: ifc, OIF: outside,
		}, cfg, func(q *Queue, p Packet) { verdict(q, p, r.eng.outbound(p.Payload)) })
		if err != nil {
			return nil, err
		}
		r.queues = append(r.queues, q)
	}
	r.table = fmt.Sprintf("%s-nat%d", h.lab.id, h.lab.nextSeq())
	if err := natHairpinTable(ns, r.table, inside, public, inNum, prof.Hairpin); err != nil {
		return nil, err
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(natSweep)
		defer t.Stop()
		for {
			select {
			case <-qctx.Done():
				return
			case <-t.C:
				r.eng.sweep()
			}
		}
	}()
	return r, nil
}

// verdict gives a queued packet the engine's verdict.
func verdict(q *Queue, p Packet, v natVerdict) {
	switch v {
	case natAccept:
		_ = q.AcceptModified(p.ID, p.Payload)
	case natUntouched:
		_ = q.Accept(p.ID)
	default:
		_ = q.Drop(p.ID)
	}
}

// addr4 reads an IPv4 address.
func addr4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b[:4])) }

// natHairpinTable adds the table whose prerouting rules send TCP and UDP
// from the inside NICs to the outside address into queue num (or drop it,
// with hairpinning off).
func natHairpinTable(ns netns.NsHandle, name string, inside []string, public netip.Addr, num uint16, hairpin bool) error {
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	defer c.CloseLasting()
	t := c.AddTable(&nftables.Table{Name: name, Family: nftables.TableFamilyINet})
	accept := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{
		Name: "hairpin", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw, Policy: &accept,
	})
	pub := public.As4()
	for _, ifc := range inside {
		for _, proto := range []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP} {
			e := []expr.Any{
				&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(ifc)},
				&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: pub[:]},
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			}
			if hairpin {
				e = append(e, nfqueueTarget(num))
			} else {
				e = append(e, &expr.Verdict{Kind: expr.VerdictDrop})
			}
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: e})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: add table %s: %w", name, err)
	}
	return nil
}

// close removes the router's rules and queues and stops its goroutines.
func (r *natRouter) close() error {
	r.once.Do(func() {
		var errs []error
		if r.table != "" {
			errs = append(errs, nftDel(r.ns, r.table))
		}
		for _, q := range r.queues {
			errs = append(errs, q.Close())
		}
		if r.stop != nil {
			r.stop()
		}
		r.wg.Wait()
		r.ns.Close()
		r.err = errors.Join(errs...)
	})
	return r.err
}
