package sim

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// readImpair reads an impair mapping of a host or NIC (docs/netlab.md,
// "Impairments"):
//
//	impair: {delay: 40ms, jitter: 5ms, reorder: false, loss: 1%,
//	         duplicate: 0.5%, rate: 10mbit, direction: both}
//
// It checks the values as netlab would (so that a bad one is reported at
// its own line and column, naming the host and NIC) and returns nil if
// the node is absent or wrong.
func readImpair(n node, host, lan string) *netlab.Impairment {
	if n.absent() {
		return nil
	}
	m, ok := n.asMap("delay", "jitter", "reorder", "loss", "duplicate", "rate", "rate_queue", "direction")
	if !ok {
		return nil
	}
	where := "host " + strconv.Quote(host)
	if lan != "" {
		where += ", NIC on LAN " + strconv.Quote(lan)
	}
	bad := false
	dur := func(k string) time.Duration {
		f := m.get(k)
		s, ok := f.str()
		if !ok {
			return 0
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			n.e.add(f, "%s: %q is not a duration (e.g. 40ms)", where, s)
			bad = true
		}
		return d
	}
	pct := func(k string) float64 {
		f := m.get(k)
		s, ok := f.str()
		if !ok {
			return 0
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%")), 64)
		if err != nil {
			n.e.add(f, "%s: %q is not a percentage (e.g. 2 or 2%%)", where, s)
			bad = true
		}
		return v
	}
	im := netlab.Impairment{
		Delay:     dur("delay"),
		Jitter:    dur("jitter"),
		RateQueue: dur("rate_queue"),
		Reorder:   m.get("reorder").boolean(false),
		Loss:      pct("loss"),
		Duplicate: pct("duplicate"),
	}
	if f := m.get("rate"); !f.absent() {
		s, _ := f.str()
		r, err := parseRate(s)
		if err != nil {
			n.e.add(f, "%s: %q is not a rate (e.g. 512kbit, 10mbit)", where, s)
			bad = true
		}
		im.Rate = r
	}
	if f := m.get("direction"); !f.absent() {
		s, _ := f.str()
		im.Direction = netlab.Direction(s)
	}
	if bad {
		return nil
	}
	if err := im.Validate(); err != nil {
		var ie *netlab.ImpairmentError
		f := n
		if errors.As(err, &ie) && m.has(ie.Field) {
			f = m.get(ie.Field)
		}
		n.e.add(f, "%s: impair: %v", where, err)
		return nil
	}
	return &im
}
