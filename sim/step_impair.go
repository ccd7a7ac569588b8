package sim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// Impairment steps (docs/scenarios.md, Faults): delay, duplicate and flap
// on a host's NICs, made by netlab's impairment stages (docs/netlab.md,
// "Impairments"). Like loss and rate they are settings: a second step of
// the same kind on a host replaces the first, a zero value removes it,
// and the lab removes what is left when it closes.

// direction reads an optional direction (in, out or both); def when absent.
func (v *validator) direction(n node, def netlab.Direction) netlab.Direction {
	s, ok := n.str()
	if !ok {
		return def
	}
	switch d := netlab.Direction(s); d {
	case netlab.In, netlab.Out, netlab.Both:
		return d
	}
	v.e.add(n, "%q is not in, out or both", s)
	return def
}

// percent reads a percentage 0-100 (fractions allowed, "%" optional).
func (v *validator) percent(n node) float64 {
	s, ok := n.str()
	if !ok {
		return 0
	}
	p, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%")), 64)
	if err != nil || p < 0 || p > 100 || p != p {
		v.e.add(n, "%q is not a percentage in 0-100 (e.g. 2 or 2.5%%)", s)
		return 0
	}
	return p
}

// checkImpair reports what netlab would refuse in im at the field it names
// (or at n, the step, if the step has no such field).
func (v *validator) checkImpair(n node, m mapping, im netlab.Impairment) {
	err := im.Validate()
	if err == nil {
		return
	}
	var ie *netlab.ImpairmentError
	at := n
	if errors.As(err, &ie) && m.has(ie.Field) {
		at = m.get(ie.Field)
		err = errors.New(ie.Msg)
	}
	v.e.add(at, "%v", err)
}

// dirText says which way an impairment acts, for String.
func dirText(d netlab.Direction) string {
	switch d {
	case netlab.In:
		return "inbound"
	case netlab.Out:
		return "outbound"
	}
	return "both ways"
}

// DelayStep delays the packets crossing a host's NICs (0 removes the
// delay a delay step set).
type DelayStep struct {
	stepBase
	Host string `json:"host"`
	// Delay is added one way, in each direction the step names.
	Delay time.Duration `json:"delay"`
	// Jitter spreads each packet's delay over Delay±Jitter.
	Jitter time.Duration `json:"jitter,omitempty"`
	// Reorder lets a packet with a short delay overtake one with a long
	// one (without it order is kept).
	Reorder bool `json:"reorder,omitempty"`
	// Direction is in, out or both (the default).
	Direction netlab.Direction `json:"direction"`
}

func readDelay(v *validator, n node) Step {
	m, ok := n.asMap("host", "delay", "jitter", "reorder", "direction")
	if !ok {
		return nil
	}
	s := &DelayStep{Host: v.host(m.get("host")), Direction: v.direction(m.get("direction"), netlab.Both)}
	if m.get("delay").absent() {
		v.e.add(m.get("delay"), "missing (0 removes the delay)")
	}
	s.Delay = m.get("delay").duration(0)
	s.Jitter = m.get("jitter").duration(0)
	s.Reorder = m.get("reorder").boolean(false)
	if s.Delay == 0 {
		for _, k := range []string{"jitter", "reorder"} {
			if m.has(k) {
				v.e.add(m.get(k), "delay 0 removes the delay; no %s here", k)
			}
		}
	}
	if s.Reorder && s.Jitter == 0 {
		v.e.add(m.get("reorder"), "reorder needs a jitter (without one no packet can overtake another)")
	}
	v.checkImpair(n, m, s.impairment())
	return s
}

func (s *DelayStep) impairment() netlab.Impairment {
	return netlab.Impairment{Delay: s.Delay, Jitter: s.Jitter, Reorder: s.Reorder, Direction: s.Direction}
}

// Kind is "delay".
func (*DelayStep) Kind() string { return StepDelay }

func (s *DelayStep) String() string {
	if s.Delay == 0 {
		return "delay " + s.Host + " removed"
	}
	j := ""
	if s.Jitter != 0 {
		j = fmt.Sprintf(" ±%v", s.Jitter)
		if s.Reorder {
			j += " reordering"
		}
	}
	return fmt.Sprintf("delay %s %v%s %s", s.Host, s.Delay, j, dirText(s.Direction))
}

func (s *DelayStep) run(ctx context.Context, rn *runner) (string, error) {
	return "", rn.setFault(ctx, StepDelay, s.Host, s.Delay == 0, func(h *netlab.Host) (netlab.Undo, error) {
		return h.Impair(ctx, "", s.impairment())
	})
}

// DuplicateStep sends a second copy of a percentage of the packets
// crossing a host's NICs (0 removes it).
type DuplicateStep struct {
	stepBase
	Host    string  `json:"host"`
	Percent float64 `json:"percent"`
	// Direction is in, out or both (the default).
	Direction netlab.Direction `json:"direction"`
}

func readDuplicate(v *validator, n node) Step {
	m, ok := n.asMap("host", "percent", "direction")
	if !ok {
		return nil
	}
	s := &DuplicateStep{Host: v.host(m.get("host")), Direction: v.direction(m.get("direction"), netlab.Both)}
	if m.get("percent").absent() {
		v.e.add(m.get("percent"), "missing (0 removes the duplication)")
	}
	s.Percent = v.percent(m.get("percent"))
	return s
}

// Kind is "duplicate".
func (*DuplicateStep) Kind() string { return StepDuplicate }

func (s *DuplicateStep) String() string {
	if s.Percent == 0 {
		return "duplicate " + s.Host + " removed"
	}
	return fmt.Sprintf("duplicate %s %g%% %s", s.Host, s.Percent, dirText(s.Direction))
}

func (s *DuplicateStep) run(ctx context.Context, rn *runner) (string, error) {
	return "", rn.setFault(ctx, StepDuplicate, s.Host, s.Percent == 0, func(h *netlab.Host) (netlab.Undo, error) {
		return h.Duplicate(ctx, s.Percent, s.Direction)
	})
}

// FlapStep flaps a host's links in the background: Count times down for
// Down, then up for Up. The step does not wait for the flap to end; Count
// 0 stops the flap in force (links up).
type FlapStep struct {
	stepBase
	Host string `json:"host"`
	netlab.Flap
}

func readFlap(v *validator, n node) Step {
	m, ok := n.asMap("host", "down", "up", "count")
	if !ok {
		return nil
	}
	s := &FlapStep{Host: v.host(m.get("host"))}
	if m.get("count").absent() {
		v.e.add(m.get("count"), "missing (0 stops the flap in force)")
	}
	before := len(v.e.list)
	s.Count = int(m.get("count").integer(0, 0, netlab.MaxFlapCount))
	if len(v.e.list) > before {
		return s
	}
	if s.Count == 0 {
		for _, k := range []string{"down", "up"} {
			if m.has(k) {
				v.e.add(m.get(k), "count 0 stops the flap; no %s here", k)
			}
		}
		return s
	}
	for _, f := range []struct {
		key string
		d   *time.Duration
	}{{"down", &s.Down}, {"up", &s.Up}} {
		fn := m.get(f.key)
		if fn.absent() {
			v.e.add(fn, "missing")
			continue
		}
		before = len(v.e.list)
		*f.d = fn.duration(0)
		if len(v.e.list) == before && (*f.d < time.Millisecond || *f.d > time.Hour) {
			v.e.add(fn, "%v is outside 1ms-1h", *f.d)
		}
	}
	return s
}

// Kind is "flap".
func (*FlapStep) Kind() string { return StepFlap }

func (s *FlapStep) String() string {
	if s.Count == 0 {
		return "flap " + s.Host + " stopped"
	}
	return fmt.Sprintf("flap %s down %v, up %v, %d times", s.Host, s.Down, s.Up, s.Count)
}

func (s *FlapStep) run(ctx context.Context, rn *runner) (string, error) {
	return "", rn.setFault(ctx, StepFlap, s.Host, s.Count == 0, func(h *netlab.Host) (netlab.Undo, error) {
		f, err := h.Flap(ctx, s.Flap)
		if err != nil {
			return nil, err
		}
		return f.Undo, nil
	})
}
