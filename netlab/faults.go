package netlab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Faults are implemented once, here, on top of Backend.NetNS: the host's
// interfaces are found by their lab addresses with netlink inside the
// host's namespace, and filters are nftables tables in that namespace named
// <runid>-<kind><n> (never a flush of the whole ruleset).

// nicLinks opens the host's namespace and finds the links that carry its
// lab addresses, in NIC order. The caller closes the handle and the ns.
func (h *Host) nicLinks(ctx context.Context) (netns.NsHandle, *netlink.Handle, []netlink.Link, error) {
	ns, err := h.lab.b.NetNS(ctx, h.spec.Name)
	if err != nil {
		return ns, nil, nil, err
	}
	nh, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		return netns.None(), nil, nil, err
	}
	addrs, err := RetryDump(func() ([]netlink.Addr, error) { return nh.AddrList(nil, unix.AF_INET) })
	if err != nil {
		nh.Close()
		ns.Close()
		return netns.None(), nil, nil, err
	}
	var links []netlink.Link
	for _, nic := range h.spec.NICs {
		idx := 0
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == nic.Addr {
				idx = a.LinkIndex
			}
		}
		if idx == 0 {
			nh.Close()
			ns.Close()
			return netns.None(), nil, nil, fmt.Errorf("no interface has address %s", nic.Addr)
		}
		l, err := nh.LinkByIndex(idx)
		if err != nil {
			nh.Close()
			ns.Close()
			return netns.None(), nil, nil, err
		}
		links = append(links, l)
	}
	return ns, nh, links, nil
}

// netlinkHandle opens a netlink handle in the host's namespace.
func (h *Host) netlinkHandle(ctx context.Context) (*netlink.Handle, error) {
	ns, err := h.lab.b.NetNS(ctx, h.spec.Name)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
}

// Cut takes the host's links down (silent loss); the Undo restores them.
// Packets to and from the host vanish without any error; established
// connections see nothing until the link is back. Restore brings the
// links up and puts back the routes the kernel dropped with them.
func (h *Host) Cut(ctx context.Context) (Undo, error) {
	ns, nh, links, err := h.nicLinks(ctx)
	if err != nil {
		return nil, fmt.Errorf("netlab: cut %s: %w", h.Name(), err)
	}
	defer ns.Close()
	defer nh.Close()
	var saved []netlink.Route
	for _, l := range links {
		rs, err := RetryDump(func() ([]netlink.Route, error) { return nh.RouteList(l, unix.AF_INET) })
		if err != nil {
			return nil, fmt.Errorf("netlab: cut %s: routes: %w", h.Name(), err)
		}
		for _, r := range rs {
			if r.Gw != nil {
				saved = append(saved, r)
			}
		}
	}
	var downed []netlink.Link
	for _, l := range links {
		if err := nh.LinkSetDown(l); err != nil {
			for _, d := range downed {
				_ = nh.LinkSetUp(d)
			}
			return nil, fmt.Errorf("netlab: cut %s: %s down: %w", h.Name(), l.Attrs().Name, err)
		}
		downed = append(downed, l)
	}
	h.lab.event(h.Name(), "cut", "")
	return h.lab.addFault(h.Name(), "restore", "", func(ctx context.Context) error {
		nh, err := h.netlinkHandle(ctx)
		if err != nil {
			return fmt.Errorf("netlab: restore %s: %w", h.Name(), err)
		}
		defer nh.Close()
		var errs []error
		for _, l := range links {
			if err := nh.LinkSetUp(l); err != nil {
				errs = append(errs, fmt.Errorf("netlab: restore %s: %s up: %w", h.Name(), l.Attrs().Name, err))
			}
		}
		if err := waitOperUp(ctx, nh, links); err != nil {
			errs = append(errs, fmt.Errorf("netlab: restore %s: %w", h.Name(), err))
		}
		for _, r := range saved {
			if err := nh.RouteReplace(&r); err != nil {
				errs = append(errs, fmt.Errorf("netlab: restore %s: route %s: %w", h.Name(), r.Dst, err))
			}
		}
		return errors.Join(errs...)
	}), nil
}

// Freeze suspends every process of the host; the Undo thaws them.
func (h *Host) Freeze(ctx context.Context) (Undo, error) {
	if err := h.lab.b.Freeze(ctx, h.spec.Name); err != nil {
		return nil, fmt.Errorf("netlab: freeze %s: %w", h.Name(), err)
	}
	h.lab.event(h.Name(), "freeze", "")
	return h.lab.addFault(h.Name(), "thaw", "", func(ctx context.Context) error {
		if err := h.lab.b.Thaw(ctx, h.spec.Name); err != nil {
			return fmt.Errorf("netlab: thaw %s: %w", h.Name(), err)
		}
		return nil
	}), nil
}

// Block drops (or rejects with a TCP reset) new inbound TCP connections to
// the given ports of the host; established flows and the host's own
// outbound connections keep working.
func (h *Host) Block(ctx context.Context, b Block) (Undo, error) {
	first, last := b.First, b.Last
	if first != 0 && last == 0 {
		last = first
	}
	if first > last {
		return nil, fmt.Errorf("netlab: block %s: bad port range %d-%d", h.Name(), b.First, b.Last)
	}
	detail := "every port"
	if first != 0 || last != 0 {
		detail = fmt.Sprintf("ports %d-%d", first, last)
	}
	if b.Reject {
		detail += ", reject"
	} else {
		detail += ", drop"
	}
	undo, err := h.nftFault(ctx, "block", detail, "unblock", []nftRule{blockRule(first, last, b.Reject)})
	if err != nil {
		return nil, fmt.Errorf("netlab: block %s: %w", h.Name(), err)
	}
	return undo, nil
}

// Partition drops traffic between h and other: both ways, or with oneWay
// only packets from other to h. Drops are silent and happen on input (in
// h's namespace, and for both ways also in other's), so a sender sees no
// error, just no answer.
func (h *Host) Partition(ctx context.Context, other *Host, oneWay bool) (Undo, error) {
	if other == nil || other == h {
		return nil, fmt.Errorf("netlab: partition %s: need another host", h.Name())
	}
	detail := "from " + other.Name()
	if !oneWay {
		detail = "both ways with " + other.Name()
	}
	u1, err := h.nftTable(ctx, "part", dropFromRules(other.Addrs()))
	if err != nil {
		return nil, fmt.Errorf("netlab: partition %s: %w", h.Name(), err)
	}
	u2 := Undo(func(context.Context) error { return nil })
	if !oneWay {
		u2, err = other.nftTable(ctx, "part", dropFromRules(h.Addrs()))
		if err != nil {
			_ = u1(ctx)
			return nil, fmt.Errorf("netlab: partition %s: %w", h.Name(), err)
		}
	}
	h.lab.event(h.Name(), "partition", detail)
	return h.lab.addFault(h.Name(), "heal", detail, func(ctx context.Context) error {
		return errors.Join(u1(ctx), u2(ctx))
	}), nil
}

// Loss drops percent (0-100) of the packets the host receives, at random.
func (h *Host) Loss(ctx context.Context, percent int) (Undo, error) {
	if percent < 0 || percent > 100 {
		return nil, fmt.Errorf("netlab: loss %s: percent %d outside 0-100", h.Name(), percent)
	}
	undo, err := h.nftFault(ctx, "loss", fmt.Sprintf("%d%%", percent), "loss-end", []nftRule{lossRule(percent)})
	if err != nil {
		return nil, fmt.Errorf("netlab: loss %s: %w", h.Name(), err)
	}
	return undo, nil
}

// nftFault installs rules as a new table in the host's namespace and
// records the fault.
func (h *Host) nftFault(ctx context.Context, kind, detail, undoKind string, rules []nftRule) (Undo, error) {
	u, err := h.nftTable(ctx, kind, rules)
	if err != nil {
		return nil, err
	}
	h.lab.event(h.Name(), kind, detail)
	return h.lab.addFault(h.Name(), undoKind, detail, u), nil
}

// nftTable adds a table <runid>-<kind><n> with an input chain holding
// rules to the host's namespace and returns the undo that deletes it.
func (h *Host) nftTable(ctx context.Context, kind string, rules []nftRule) (Undo, error) {
	name := fmt.Sprintf("%s-%s%d", h.lab.id, kind, h.lab.nextSeq())
	ns, err := h.lab.b.NetNS(ctx, h.spec.Name)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	if err := nftAdd(ns, name, rules); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		ns, err := h.lab.b.NetNS(ctx, h.spec.Name)
		if err != nil {
			return fmt.Errorf("netlab: undo %s on %s: %w", name, h.Name(), err)
		}
		defer ns.Close()
		if err := nftDel(ns, name); err != nil {
			return fmt.Errorf("netlab: undo %s on %s: %w", name, h.Name(), err)
		}
		return nil
	}, nil
}

// qdiscReplace sets a link's root qdisc; a variable so that a test can make
// one link of several fail.
var qdiscReplace = (*netlink.Handle).QdiscReplace

// Rate limits the host's outbound traffic to bitsPerSecond (tbf). A later
// Rate on the same host replaces the limit; either Undo removes it. It is
// all or nothing: when one link cannot be limited, the links done before it
// get back the root qdisc they had (an earlier Rate's limit, or none).
func (h *Host) Rate(ctx context.Context, bitsPerSecond uint64) (Undo, error) {
	if bitsPerSecond < 8000 {
		return nil, fmt.Errorf("netlab: rate %s: %d bit/s is below the minimum of 8000", h.Name(), bitsPerSecond)
	}
	ns, nh, links, err := h.nicLinks(ctx)
	if err != nil {
		return nil, fmt.Errorf("netlab: rate %s: %w", h.Name(), err)
	}
	defer ns.Close()
	defer nh.Close()
	saved := map[int]*netlink.Tbf{} // by link index: the root tbf before, nil if none
	for i, l := range links {
		prev, err := rootTbf(nh, l)
		if err == nil {
			err = qdiscReplace(nh, tbf(l.Attrs().Index, bitsPerSecond))
		}
		if err != nil {
			err = fmt.Errorf("netlab: rate %s: %s: %w", h.Name(), l.Attrs().Name, err)
			for _, d := range links[:i] {
				if rerr := restoreRoot(nh, d, saved[d.Attrs().Index]); rerr != nil {
					err = errors.Join(err, fmt.Errorf("netlab: rate %s: put back %s: %w", h.Name(), d.Attrs().Name, rerr))
				}
			}
			return nil, err
		}
		saved[l.Attrs().Index] = prev
	}
	detail := fmt.Sprintf("%d bit/s", bitsPerSecond)
	h.lab.event(h.Name(), "rate", detail)
	return h.lab.addFault(h.Name(), "rate-end", detail, func(ctx context.Context) error {
		nh, err := h.netlinkHandle(ctx)
		if err != nil {
			return fmt.Errorf("netlab: rate end %s: %w", h.Name(), err)
		}
		defer nh.Close()
		var errs []error
		for _, l := range links {
			if err := nh.QdiscDel(tbf(l.Attrs().Index, bitsPerSecond)); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
				errs = append(errs, fmt.Errorf("netlab: rate end %s: %s: %w", h.Name(), l.Attrs().Name, err))
			}
		}
		return errors.Join(errs...)
	}), nil
}

// rootTbf returns the tbf an earlier Rate put at the root of l, or nil.
func rootTbf(nh *netlink.Handle, l netlink.Link) (*netlink.Tbf, error) {
	qs, err := RetryDump(func() ([]netlink.Qdisc, error) { return nh.QdiscList(l) })
	if err != nil {
		return nil, fmt.Errorf("qdiscs: %w", err)
	}
	for _, q := range qs {
		if t, ok := q.(*netlink.Tbf); ok && t.Parent == netlink.HANDLE_ROOT {
			return t, nil
		}
	}
	return nil, nil
}

// restoreRoot puts back prev (an earlier Rate's tbf) at the root of l, or,
// when prev is nil, deletes the tbf so that the kernel's default returns.
func restoreRoot(nh *netlink.Handle, l netlink.Link, prev *netlink.Tbf) error {
	if prev != nil {
		return nh.QdiscReplace(prev)
	}
	if err := nh.QdiscDel(tbf(l.Attrs().Index, 8000)); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
		return err
	}
	return nil
}

// tbf is a root token bucket on a link: rate in bit/s, a burst of 10 ms of
// traffic (at least 3000 bytes) and a queue of 50 ms plus the burst.
func tbf(link int, bitsPerSecond uint64) *netlink.Tbf {
	rate := bitsPerSecond / 8
	burst := max(uint32(rate/100), 3000)
	return &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
		Rate:       rate,
		Limit:      uint32(rate/20) + burst,
		Buffer:     netlink.Xmittime(rate, burst),
	}
}

// waitOperUp waits (at most a minute) until the kernel's link watcher has
// brought links operationally up: until then a veth still drops what it
// should send, and a busy machine can take seconds.
func waitOperUp(ctx context.Context, nh *netlink.Handle, links []netlink.Link) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, l := range links {
		delay := 500 * time.Microsecond
		for {
			cur, err := nh.LinkByIndex(l.Attrs().Index)
			if err != nil {
				return err
			}
			if cur.Attrs().OperState == netlink.OperUp {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s not up: %w", l.Attrs().Name, ctx.Err())
			case <-time.After(delay):
			}
			delay = min(2*delay, 50*time.Millisecond)
		}
	}
	return nil
}
