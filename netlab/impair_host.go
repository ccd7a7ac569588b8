package netlab

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Impair applies im to the host's NIC on LAN lan, or to every NIC if lan
// is "", until the Undo (or Close). Impairments add up: a second Impair on
// the same NIC and direction is a second stage after the first (undo the
// first to replace it). Bad input is refused before anything is made,
// naming the host, the NIC and the field (errors.Is ErrBadImpairment).
func (h *Host) Impair(ctx context.Context, lan string, im Impairment) (Undo, error) {
	idx := -1
	for i, n := range h.spec.NICs {
		if n.LAN == lan {
			idx = i
		}
	}
	nicName := "every NIC"
	if lan != "" {
		nicName = "NIC on LAN " + fmt.Sprintf("%q", lan)
		if idx < 0 {
			return nil, fmt.Errorf("netlab: impair %s: no NIC on LAN %q: %w", h.Name(), lan, ErrBadImpairment)
		}
	}
	if err := im.Validate(); err != nil {
		return nil, fmt.Errorf("netlab: impair %s: %s: %w", h.Name(), nicName, err)
	}
	ns, nh, links, err := h.nicLinks(ctx)
	if err != nil {
		return nil, fmt.Errorf("netlab: impair %s: %w", h.Name(), err)
	}
	nh.Close()
	defer ns.Close()
	var stages []*stage
	var names []string
	for i, l := range links {
		if idx >= 0 && i != idx {
			continue
		}
		for _, d := range im.dirs() {
			n := h.lab.nextSeq()
			table := fmt.Sprintf("%s-imp%d", h.lab.id, n)
			st, err := startStage(ctx, ns, table, uint16(n), l.Attrs().Name, d, im)
			if err != nil {
				for _, s := range stages {
					_ = s.stop()
				}
				return nil, fmt.Errorf("netlab: impair %s: %s %s: %w", h.Name(), l.Attrs().Name, d, err)
			}
			stages = append(stages, st)
			names = append(names, l.Attrs().Name+" "+string(d))
		}
	}
	detail := fmt.Sprintf("%s: %s", nicName, im)
	h.lab.event(h.Name(), "impair", detail)
	return h.lab.addFault(h.Name(), "impair-end", detail, func(context.Context) error {
		var errs []error
		for i, s := range stages {
			if err := s.stop(); err != nil {
				errs = append(errs, fmt.Errorf("netlab: impair end %s: %s: %w", h.Name(), names[i], err))
			}
		}
		return errors.Join(errs...)
	}), nil
}

// Delay adds delay, spread by jitter (order kept), to every NIC of the
// host in direction dir.
func (h *Host) Delay(ctx context.Context, delay, jitter time.Duration, dir Direction) (Undo, error) {
	return h.Impair(ctx, "", Impairment{Delay: delay, Jitter: jitter, Direction: dir})
}

// Duplicate sends a second copy of percent of the packets crossing every
// NIC of the host in direction dir.
func (h *Host) Duplicate(ctx context.Context, percent float64, dir Direction) (Undo, error) {
	return h.Impair(ctx, "", Impairment{Duplicate: percent, Direction: dir})
}

// LossDir drops percent of the packets crossing every NIC of the host in
// direction dir. Unlike Loss (inbound only, in the kernel with numgen, and
// only for packets the host itself receives), it acts on the NIC, so it
// also hits what a router forwards, and it can act on what the host sends.
func (h *Host) LossDir(ctx context.Context, percent float64, dir Direction) (Undo, error) {
	return h.Impair(ctx, "", Impairment{Loss: percent, Direction: dir})
}

// RateDir limits every NIC of the host to bitsPerSecond in direction dir.
// Out is Rate (a tbf qdisc in the kernel); In, which a qdisc cannot do
// without an ifb device, is an impairment stage (the userspace queue); Both
// is the two.
func (h *Host) RateDir(ctx context.Context, bitsPerSecond uint64, dir Direction) (Undo, error) {
	switch dir {
	case Out:
		return h.Rate(ctx, bitsPerSecond)
	case In:
		return h.Impair(ctx, "", Impairment{Rate: bitsPerSecond, Direction: In})
	case "", Both:
		u1, err := h.Rate(ctx, bitsPerSecond)
		if err != nil {
			return nil, err
		}
		u2, err := h.Impair(ctx, "", Impairment{Rate: bitsPerSecond, Direction: In})
		if err != nil {
			_ = u1(ctx)
			return nil, err
		}
		return func(ctx context.Context) error { return errors.Join(u2(ctx), u1(ctx)) }, nil
	}
	return nil, fmt.Errorf("netlab: rate %s: direction: %q is not in, out or both: %w", h.Name(), dir, ErrBadImpairment)
}

// impairTopology applies the impairments the topology declares.
func (l *Lab) impairTopology(ctx context.Context) error {
	for _, h := range l.hosts {
		for _, n := range h.spec.NICs {
			if n.Impair == nil || n.Impair.Zero() {
				continue
			}
			if _, err := h.Impair(ctx, n.LAN, *n.Impair); err != nil {
				return err
			}
		}
	}
	return nil
}
