package sim

import (
	"context"
	"errors"
	"fmt"

	"github.com/p2plab/p2plab/netlab"
)

// Fault steps (docs/scenarios.md, Faults). Each fault leaves an undo under
// a key naming it ("cut/bob"); the step that lifts it runs that undo, and
// the lab runs every undo left when it closes.

// faultOn applies a fault to each host and keeps its undo under kind/host.
func (rn *runner) faultOn(ctx context.Context, kind string, hosts []string, apply func(h *netlab.Host) (netlab.Undo, error)) error {
	for _, n := range hosts {
		u, err := apply(rn.lab.Host(n))
		if err != nil {
			return fmt.Errorf("%s %s: %w", kind, n, err)
		}
		rn.lab.addUndo(kind+"/"+n, u)
	}
	return nil
}

// setFault replaces a setting fault (loss, rate) on host: the one in force
// is undone, then apply sets the new one unless off.
func (rn *runner) setFault(ctx context.Context, kind, host string, off bool, apply func(h *netlab.Host) (netlab.Undo, error)) error {
	if _, err := rn.lab.undo(ctx, kind+"/"+host); err != nil {
		return err
	}
	if off {
		return nil
	}
	return rn.faultOn(ctx, kind, []string{host}, apply)
}

// lift undoes the fault kind on each host; it is an error if none is in
// force there.
func (rn *runner) lift(ctx context.Context, step, kind string, hosts []string) error {
	for _, n := range hosts {
		ok, err := rn.lab.undo(ctx, kind+"/"+n)
		if err != nil {
			return fmt.Errorf("%s %s: %w", step, n, err)
		}
		if !ok {
			return fmt.Errorf("%s %s: there is no %s in force on %s", step, n, kind, n)
		}
	}
	return nil
}

// FreezeStep stops every process of the hosts (SIGSTOP).
type FreezeStep struct {
	stepBase
	nameList
}

func readFreeze(v *validator, n node) Step { return &FreezeStep{nameList: v.hostNames(n)} }

// Kind is "freeze".
func (*FreezeStep) Kind() string     { return StepFreeze }
func (s *FreezeStep) String() string { return s.describe(StepFreeze) }

func (s *FreezeStep) run(ctx context.Context, rn *runner) (string, error) {
	return "", rn.faultOn(ctx, StepFreeze, s.Names, func(h *netlab.Host) (netlab.Undo, error) { return h.Freeze(ctx) })
}

// ThawStep undoes a freeze.
type ThawStep struct {
	stepBase
	nameList
}

func readThaw(v *validator, n node) Step { return &ThawStep{nameList: v.hostNames(n)} }

// Kind is "thaw".
func (*ThawStep) Kind() string     { return StepThaw }
func (s *ThawStep) String() string { return s.describe(StepThaw) }

func (s *ThawStep) run(ctx context.Context, rn *runner) (string, error) {
	return "", rn.lift(ctx, StepThaw, StepFreeze, s.Names)
}

// CutStep takes the hosts' links down: their traffic vanishes silently.
type CutStep struct {
	stepBase
	nameList
}

func readCut(v *validator, n node) Step { return &CutStep{nameList: v.hostNames(n)} }

// Kind is "cut".
func (*CutStep) Kind() string     { return StepCut }
func (s *CutStep) String() string { return s.describe(StepCut) }

func (s *CutStep) run(ctx context.Context, rn *runner) (string, error) {
	return "", rn.faultOn(ctx, StepCut, s.Names, func(h *netlab.Host) (netlab.Undo, error) { return h.Cut(ctx) })
}

// RestoreStep undoes a cut.
type RestoreStep struct {
	stepBase
	nameList
}

func readRestore(v *validator, n node) Step { return &RestoreStep{nameList: v.hostNames(n)} }

// Kind is "restore".
func (*RestoreStep) Kind() string     { return StepRestore }
func (s *RestoreStep) String() string { return s.describe(StepRestore) }

func (s *RestoreStep) run(ctx context.Context, rn *runner) (string, error) {
	return "", rn.lift(ctx, StepRestore, StepCut, s.Names)
}

// BlockStep drops (or, with Reject, resets) new inbound TCP connections
// to a host's ports.
type BlockStep struct {
	stepBase
	Host string `json:"host"`
	// Ports is the blocked range (0,0: every port).
	Ports  [2]uint16 `json:"ports,omitzero"`
	Reject bool      `json:"reject,omitempty"`
}

func readBlock(v *validator, n node) Step {
	bm, ok := n.asMap("host", "ports", "reject")
	if !ok {
		return nil
	}
	s := &BlockStep{Host: v.host(bm.get("host")), Reject: bm.get("reject").boolean(false)}
	if p := bm.get("ports"); !p.absent() {
		text, _ := p.str()
		r, err := parsePorts(text)
		if err != nil {
			v.e.add(p, "%v", err)
		}
		s.Ports = r
	}
	return s
}

// Kind is "block".
func (*BlockStep) Kind() string { return StepBlock }

func (s *BlockStep) String() string {
	ports := "all ports"
	if s.Ports != [2]uint16{} {
		ports = fmt.Sprintf("ports %d-%d", s.Ports[0], s.Ports[1])
	}
	return fmt.Sprintf("block %s inbound %s", s.Host, ports)
}

func (s *BlockStep) run(ctx context.Context, rn *runner) (string, error) {
	return "", rn.faultOn(ctx, StepBlock, []string{s.Host}, func(h *netlab.Host) (netlab.Undo, error) {
		return h.Block(ctx, netlab.Block{First: s.Ports[0], Last: s.Ports[1], Reject: s.Reject})
	})
}

// UnblockStep undoes the blocks on hosts.
type UnblockStep struct {
	stepBase
	nameList
}

func readUnblock(v *validator, n node) Step { return &UnblockStep{nameList: v.hostNames(n)} }

// Kind is "unblock".
func (*UnblockStep) Kind() string     { return StepUnblock }
func (s *UnblockStep) String() string { return s.describe(StepUnblock) }

func (s *UnblockStep) run(ctx context.Context, rn *runner) (string, error) {
	return "", rn.lift(ctx, StepUnblock, StepBlock, s.Names)
}

// hostPair is the two hosts of a partition or heal.
type hostPair struct {
	Host string `json:"host"`
	Peer string `json:"peer"`
}

func (v *validator) hostPair(pm mapping) hostPair {
	p := hostPair{Host: v.host(pm.get("host")), Peer: v.host(pm.get("peer"))}
	if p.Host == p.Peer && p.Host != "" {
		v.e.add(pm.get("peer"), "a host cannot be partitioned from itself")
	}
	return p
}

func (p hostPair) key() string { return "partition/" + p.Host + "/" + p.Peer }

// PartitionStep drops the traffic between two hosts (both ways, or with
// OneWay only packets from Peer to Host).
type PartitionStep struct {
	stepBase
	hostPair
	OneWay bool `json:"oneWay,omitempty"`
}

func readPartition(v *validator, n node) Step {
	pm, ok := n.asMap("host", "peer", "oneway")
	if !ok {
		return nil
	}
	return &PartitionStep{hostPair: v.hostPair(pm), OneWay: pm.get("oneway").boolean(false)}
}

// Kind is "partition".
func (*PartitionStep) Kind() string { return StepPartition }

func (s *PartitionStep) String() string {
	if s.OneWay {
		return fmt.Sprintf("partition %s <- %s (one way)", s.Host, s.Peer)
	}
	return fmt.Sprintf("partition %s | %s", s.Host, s.Peer)
}

func (s *PartitionStep) run(ctx context.Context, rn *runner) (string, error) {
	l := rn.lab
	u, err := l.Host(s.Host).Partition(ctx, l.Host(s.Peer), s.OneWay)
	if err != nil {
		return "", fmt.Errorf("partition %s %s: %w", s.Host, s.Peer, err)
	}
	l.addUndo(s.key(), u)
	return "", nil
}

// HealStep undoes the partitions between two hosts, made either way round.
type HealStep struct {
	stepBase
	hostPair
}

func readHeal(v *validator, n node) Step {
	pm, ok := n.asMap("host", "peer", "oneway")
	if !ok {
		return nil
	}
	if pm.has("oneway") {
		v.e.add(pm.get("oneway"), "heal undoes the partition as it was made; no oneway here")
	}
	return &HealStep{hostPair: v.hostPair(pm)}
}

// Kind is "heal".
func (*HealStep) Kind() string     { return StepHeal }
func (s *HealStep) String() string { return fmt.Sprintf("heal %s | %s", s.Host, s.Peer) }

func (s *HealStep) run(ctx context.Context, rn *runner) (string, error) {
	ok1, err1 := rn.lab.undo(ctx, s.key())
	ok2, err2 := rn.lab.undo(ctx, hostPair{Host: s.Peer, Peer: s.Host}.key())
	if err := errors.Join(err1, err2); err != nil {
		return "", fmt.Errorf("heal: %w", err)
	}
	if !ok1 && !ok2 {
		return "", fmt.Errorf("heal: no partition between %s and %s", s.Host, s.Peer)
	}
	return "", nil
}

// LossStep sets random loss of the packets a host receives (0 removes it).
// With a Direction it acts on the host's NICs in that direction instead
// (also on what a router forwards, and on what the host sends).
type LossStep struct {
	stepBase
	Host    string `json:"host"`
	Percent int    `json:"percent"`
	// Direction is in, out or both; "" is the host's own inbound traffic.
	Direction netlab.Direction `json:"direction,omitempty"`
}

func readLoss(v *validator, n node) Step {
	lm, ok := n.asMap("host", "percent", "direction")
	if !ok {
		return nil
	}
	s := &LossStep{Host: v.host(lm.get("host")), Direction: v.direction(lm.get("direction"), "")}
	if lm.get("percent").absent() {
		v.e.add(lm.get("percent"), "missing (0 removes the loss)")
	}
	s.Percent = int(lm.get("percent").integer(0, 0, 100))
	return s
}

// Kind is "loss".
func (*LossStep) Kind() string { return StepLoss }

func (s *LossStep) String() string {
	if s.Percent == 0 {
		return "loss " + s.Host + " removed"
	}
	if s.Direction != "" {
		return fmt.Sprintf("loss %s %d%% %s", s.Host, s.Percent, dirText(s.Direction))
	}
	return fmt.Sprintf("loss %s %d%%", s.Host, s.Percent)
}

func (s *LossStep) run(ctx context.Context, rn *runner) (string, error) {
	return "", rn.setFault(ctx, StepLoss, s.Host, s.Percent == 0, func(h *netlab.Host) (netlab.Undo, error) {
		if s.Direction != "" {
			return h.LossDir(ctx, float64(s.Percent), s.Direction)
		}
		return h.Loss(ctx, s.Percent)
	})
}

// RateStep limits a host's outbound rate (0 removes the limit), or with
// a Direction its rate that way (in: what it receives; both).
type RateStep struct {
	stepBase
	Host string `json:"host"`
	// Rate is in bits per second.
	Rate uint64 `json:"rate"`
	// Direction is in, out or both; "" is out.
	Direction netlab.Direction `json:"direction,omitempty"`
}

func readRate(v *validator, n node) Step {
	rm, ok := n.asMap("host", "rate", "direction")
	if !ok {
		return nil
	}
	s := &RateStep{Host: v.host(rm.get("host")), Direction: v.direction(rm.get("direction"), "")}
	r := rm.get("rate")
	text := r.reqStr()
	if text == "" || text == "0" || text == "none" {
		return s
	}
	bps, err := parseRate(text)
	if err != nil {
		v.e.add(r, "%q is not a rate (e.g. 512kbit, 2mbit; 0 or none removes it)", text)
	}
	s.Rate = bps
	if err == nil && bps < netlab.MinRate && (s.Direction == netlab.In || s.Direction == netlab.Both) {
		v.e.add(r, "%d bit/s is below the minimum of %d inbound", bps, netlab.MinRate)
	}
	return s
}

// Kind is "rate".
func (*RateStep) Kind() string { return StepRate }

func (s *RateStep) String() string {
	if s.Rate == 0 {
		return "rate " + s.Host + " unlimited"
	}
	if s.Direction != "" {
		return fmt.Sprintf("rate %s %d bit/s %s", s.Host, s.Rate, dirText(s.Direction))
	}
	return fmt.Sprintf("rate %s %d bit/s", s.Host, s.Rate)
}

func (s *RateStep) run(ctx context.Context, rn *runner) (string, error) {
	return "", rn.setFault(ctx, StepRate, s.Host, s.Rate == 0, func(h *netlab.Host) (netlab.Undo, error) {
		if s.Direction != "" {
			return h.RateDir(ctx, s.Rate, s.Direction)
		}
		return h.Rate(ctx, s.Rate)
	})
}
