package netlab

import (
	"errors"
	"fmt"
	"time"
)

// Direction says which packets of a NIC an impairment acts on: those the
// host receives on it (In), those it sends (Out), or both.
type Direction string

// The directions. The zero Direction means Both.
const (
	In   Direction = "in"
	Out  Direction = "out"
	Both Direction = "both"
)

// Impairment is what the packets crossing one NIC suffer, in the
// direction(s) it names; it is configuration (see docs/netlab.md,
// "Impairments"). Each direction gets all of it: Delay 40ms with Direction
// Both adds 40 ms to what the host sends and 40 ms to what it receives, so
// a round trip through that NIC grows by 80 ms.
type Impairment struct {
	// Delay is added to every packet, one way.
	Delay time.Duration `json:"delay,omitempty" yaml:"delay,omitempty"`
	// Jitter spreads each packet's delay uniformly over
	// [Delay-Jitter, Delay+Jitter]. It may not exceed Delay.
	Jitter time.Duration `json:"jitter,omitempty" yaml:"jitter,omitempty"`
	// Reorder lets a packet with a short delay overtake one with a long
	// delay; without it packets leave in the order they came (a packet
	// waits for the one before it), as on a single path.
	Reorder bool `json:"reorder,omitempty" yaml:"reorder,omitempty"`
	// Loss drops this percentage (0-100) of the packets, at random.
	Loss float64 `json:"loss,omitempty" yaml:"loss,omitempty"`
	// Duplicate sends a second copy of this percentage (0-100) of the
	// packets, at random; the copy leaves with the original.
	Duplicate float64 `json:"duplicate,omitempty" yaml:"duplicate,omitempty"`
	// Rate, if not 0, is the link's rate in bit/s (at least 8000): packets
	// wait their turn at that rate before the delay, and a packet that
	// would wait longer than RateQueue (default 50 ms) is dropped.
	Rate uint64 `json:"rate,omitempty" yaml:"rate,omitempty"`
	// RateQueue is the longest a packet waits for the rate (0: 50 ms).
	RateQueue time.Duration `json:"rate_queue,omitempty" yaml:"rate_queue,omitempty"`
	// Direction is In, Out or Both (the default).
	Direction Direction `json:"direction,omitempty" yaml:"direction,omitempty"`
}

// Limits of an Impairment, refused beyond.
const (
	// MaxDelay is the largest Delay (and Jitter, and RateQueue): a packet
	// held longer is a cut, not a delay, and Cut says so better.
	MaxDelay = 10 * time.Second
	// MinRate is the smallest Rate in bit/s.
	MinRate = 8000
)

// ErrBadImpairment is the error, wrapped in an *ImpairmentError, of an
// Impairment that cannot be made.
var ErrBadImpairment = errors.New("bad impairment")

// ImpairmentError names the field of an Impairment that is wrong.
type ImpairmentError struct {
	// Field is the YAML name of the field ("delay", "jitter", ...).
	Field string
	// Msg says what is wrong with it.
	Msg string
}

// Error implements error.
func (e *ImpairmentError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap makes the error match ErrBadImpairment.
func (e *ImpairmentError) Unwrap() error { return ErrBadImpairment }

// Zero reports whether im does nothing.
func (im Impairment) Zero() bool {
	return im.Delay == 0 && im.Jitter == 0 && im.Loss == 0 && im.Duplicate == 0 && im.Rate == 0
}

// Validate refuses an impossible impairment with an *ImpairmentError
// naming the field: negative or absurd (over MaxDelay) durations, jitter
// over the delay, percentages outside 0-100, a rate under MinRate, an
// unknown direction.
func (im Impairment) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &ImpairmentError{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"delay", im.Delay}, {"jitter", im.Jitter}, {"rate_queue", im.RateQueue}} {
		if d.v < 0 {
			return bad(d.field, "%v is negative", d.v)
		}
		if d.v > MaxDelay {
			return bad(d.field, "%v is over the limit of %v", d.v, MaxDelay)
		}
	}
	if im.Jitter > im.Delay {
		return bad("jitter", "%v exceeds the delay (%v): a packet's delay would be negative", im.Jitter, im.Delay)
	}
	if im.Loss < 0 || im.Loss > 100 || im.Loss != im.Loss {
		return bad("loss", "%v%% is outside 0-100", im.Loss)
	}
	if im.Duplicate < 0 || im.Duplicate > 100 || im.Duplicate != im.Duplicate {
		return bad("duplicate", "%v%% is outside 0-100", im.Duplicate)
	}
	if im.Rate != 0 && im.Rate < MinRate {
		return bad("rate", "%d bit/s is below the minimum of %d", im.Rate, MinRate)
	}
	switch im.Direction {
	case "", In, Out, Both:
	default:
		return bad("direction", "%q is not in, out or both", im.Direction)
	}
	return nil
}

// dirs is the directions im acts on.
func (im Impairment) dirs() []Direction {
	switch im.Direction {
	case In:
		return []Direction{In}
	case Out:
		return []Direction{Out}
	}
	return []Direction{In, Out}
}

// String is a short human description, for events.
func (im Impairment) String() string {
	s := ""
	add := func(f string, a ...any) {
		if s != "" {
			s += " "
		}
		s += fmt.Sprintf(f, a...)
	}
	if im.Delay != 0 {
		add("delay %v", im.Delay)
	}
	if im.Jitter != 0 {
		add("jitter %v", im.Jitter)
		if im.Reorder {
			add("reorder")
		}
	}
	if im.Loss != 0 {
		add("loss %g%%", im.Loss)
	}
	if im.Duplicate != 0 {
		add("duplicate %g%%", im.Duplicate)
	}
	if im.Rate != 0 {
		add("rate %d bit/s", im.Rate)
	}
	d := im.Direction
	if d == "" {
		d = Both
	}
	add("(%s)", d)
	return s
}

// impairNICs checks the host's impairments and returns a copy of its NICs
// with a host-level Impair moved onto its only NIC (each NIC's Impairment
// copied, so the resolved topology shares nothing with the caller's).
func (h HostSpec) impairNICs() ([]NIC, error) {
	nics := append([]NIC(nil), h.NICs...)
	if h.Impair != nil {
		if len(nics) != 1 {
			return nil, fmt.Errorf("netlab: host %q: impair: the host has %d NICs; put impair on one of them: %w", h.Name, len(nics), ErrBadImpairment)
		}
		if nics[0].Impair != nil {
			return nil, fmt.Errorf("netlab: host %q: impair: given both on the host and on its NIC: %w", h.Name, ErrBadImpairment)
		}
		nics[0].Impair = h.Impair
	}
	for i := range nics {
		if nics[i].Impair == nil {
			continue
		}
		im := *nics[i].Impair
		if err := im.Validate(); err != nil {
			return nil, fmt.Errorf("netlab: host %q: NIC on LAN %q: impair: %w", h.Name, nics[i].LAN, err)
		}
		nics[i].Impair = &im
	}
	return nics, nil
}
