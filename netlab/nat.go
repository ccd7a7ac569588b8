package netlab

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// NAT routers (docs/netlab.md, "NAT routers"): a router host with a NATSpec
// translates between its inside LANs (every LAN but Outside) and its
// outside LAN, with the behaviours of RFC 4787 (UDP) and RFC 5382 (TCP),
// each axis set apart. NATSpec is configuration; NATProfile is what it
// resolves to; the running translator is natEngine (nat_engine.go).

// ErrBadNAT is wrapped by every error about a host's nat configuration.
var ErrBadNAT = errors.New("bad nat configuration")

// NATType is a preset: a named combination of mapping and filtering.
type NATType string

// The presets.
const (
	// FullCone is endpoint-independent mapping and filtering.
	FullCone NATType = "full-cone"
	// RestrictedCone is endpoint-independent mapping, address-dependent
	// filtering.
	RestrictedCone NATType = "restricted-cone"
	// PortRestrictedCone is endpoint-independent mapping,
	// address-and-port-dependent filtering (most home routers).
	PortRestrictedCone NATType = "port-restricted-cone"
	// Symmetric is address-and-port-dependent mapping and filtering.
	Symmetric NATType = "symmetric"
)

// NATTypes lists the presets.
var NATTypes = []NATType{FullCone, RestrictedCone, PortRestrictedCone, Symmetric}

// NATBehavior is a mapping or filtering behaviour (RFC 4787 sections 4.1
// and 5).
type NATBehavior string

// The behaviours.
const (
	EndpointIndependent     NATBehavior = "endpoint-independent"
	AddressDependent        NATBehavior = "address-dependent"
	AddressAndPortDependent NATBehavior = "address-and-port-dependent"
)

// NATBehaviors lists the behaviours, from the most open to the strictest.
var NATBehaviors = []NATBehavior{EndpointIndependent, AddressDependent, AddressAndPortDependent}

// NATPorts is the port assignment (RFC 4787 section 4.2.1).
type NATPorts string

// The port assignments.
const (
	// PortsPreserve keeps the inside port as the outside one when it is
	// free.
	PortsPreserve NATPorts = "preserve"
	// PortsRandom picks a random free outside port for every mapping.
	PortsRandom NATPorts = "random"
)

// DefaultNATTimeout is the UDP mapping lifetime when none is given: the
// shortest RFC 4787 REQ-5 allows.
const DefaultNATTimeout = 2 * time.Minute

// NATSpec is the nat: of a router host: the NIC on LAN Outside translates.
// Type is a preset; each axis may also be set alone (an axis that
// contradicts the preset is refused). Unset axes default to
// endpoint-independent mapping, address-and-port-dependent filtering
// (port-restricted-cone), preserved ports, hairpinning on and
// DefaultNATTimeout.
type NATSpec struct {
	Outside   string      `json:"outside" yaml:"outside"`
	Type      NATType     `json:"type,omitempty" yaml:"type,omitempty"`
	Mapping   NATBehavior `json:"mapping,omitempty" yaml:"mapping,omitempty"`
	Filtering NATBehavior `json:"filtering,omitempty" yaml:"filtering,omitempty"`
	Ports     NATPorts    `json:"ports,omitempty" yaml:"ports,omitempty"`
	// Hairpin (nil = on) lets inside hosts reach each other through the
	// NAT's outside address (RFC 4787 REQ-9).
	Hairpin *bool `json:"hairpin,omitempty" yaml:"hairpin,omitempty"`
	// Timeout is the UDP mapping lifetime: a mapping with no outbound
	// packet for this long is gone (0 = DefaultNATTimeout).
	Timeout time.Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
}

// NATProfile is a NATSpec resolved: every axis has its value.
type NATProfile struct {
	Mapping   NATBehavior
	Filtering NATBehavior
	Ports     NATPorts
	Hairpin   bool
	Timeout   time.Duration
}

// String is e.g. "mapping=endpoint-independent filtering=... ports=preserve
// hairpin=true timeout=2m0s".
func (p NATProfile) String() string {
	return fmt.Sprintf("mapping=%s filtering=%s ports=%s hairpin=%t timeout=%s", p.Mapping, p.Filtering, p.Ports, p.Hairpin, p.Timeout)
}

// Preset returns the mapping and filtering of a preset.
func (t NATType) Preset() (mapping, filtering NATBehavior, ok bool) {
	switch t {
	case FullCone:
		return EndpointIndependent, EndpointIndependent, true
	case RestrictedCone:
		return EndpointIndependent, AddressDependent, true
	case PortRestrictedCone:
		return EndpointIndependent, AddressAndPortDependent, true
	case Symmetric:
		return AddressAndPortDependent, AddressAndPortDependent, true
	}
	return "", "", false
}

// NATFieldError is a problem with one field of a NATSpec.
type NATFieldError struct {
	Field string // "type", "mapping", "filtering", "ports" or "timeout"
	Msg   string
}

// Error implements error.
func (e *NATFieldError) Error() string { return "nat." + e.Field + ": " + e.Msg }

// Unwrap makes every NATFieldError an ErrBadNAT.
func (e *NATFieldError) Unwrap() error { return ErrBadNAT }

// Profile checks the spec's own fields (not Outside, which needs the host)
// and resolves it. Each problem is a *NATFieldError naming its field.
func (s NATSpec) Profile() (NATProfile, error) {
	p := NATProfile{Mapping: EndpointIndependent, Filtering: AddressAndPortDependent, Ports: PortsPreserve, Hairpin: true, Timeout: DefaultNATTimeout}
	var errs []error
	if s.Type != "" {
		m, f, ok := s.Type.Preset()
		if !ok {
			errs = append(errs, &NATFieldError{"type", fmt.Sprintf("unknown preset %q (want one of %v)", s.Type, NATTypes)})
		} else {
			if s.Mapping != "" && s.Mapping != m {
				errs = append(errs, &NATFieldError{"mapping", fmt.Sprintf("%s conflicts with type %s (whose mapping is %s)", s.Mapping, s.Type, m)})
			}
			if s.Filtering != "" && s.Filtering != f {
				errs = append(errs, &NATFieldError{"filtering", fmt.Sprintf("%s conflicts with type %s (whose filtering is %s)", s.Filtering, s.Type, f)})
			}
			p.Mapping, p.Filtering = m, f
		}
	}
	for _, ax := range []struct {
		field string
		v     NATBehavior
		dst   *NATBehavior
	}{{"mapping", s.Mapping, &p.Mapping}, {"filtering", s.Filtering, &p.Filtering}} {
		if ax.v == "" {
			continue
		}
		if !validBehavior(ax.v) {
			errs = append(errs, &NATFieldError{ax.field, fmt.Sprintf("unknown behaviour %q (want one of %v)", ax.v, NATBehaviors)})
			continue
		}
		*ax.dst = ax.v
	}
	switch s.Ports {
	case "":
	case PortsPreserve, PortsRandom:
		p.Ports = s.Ports
	default:
		errs = append(errs, &NATFieldError{"ports", fmt.Sprintf("unknown port assignment %q (want preserve or random)", s.Ports)})
	}
	if s.Hairpin != nil {
		p.Hairpin = *s.Hairpin
	}
	switch {
	case s.Timeout < 0:
		errs = append(errs, &NATFieldError{"timeout", fmt.Sprintf("%s is negative", s.Timeout)})
	case s.Timeout > 24*time.Hour:
		errs = append(errs, &NATFieldError{"timeout", fmt.Sprintf("%s is absurd (at most 24h)", s.Timeout)})
	case s.Timeout > 0:
		p.Timeout = s.Timeout
	}
	if len(errs) > 0 {
		return NATProfile{}, errors.Join(errs...)
	}
	return p, nil
}

func validBehavior(b NATBehavior) bool {
	for _, x := range NATBehaviors {
		if b == x {
			return true
		}
	}
	return false
}

// checkNAT checks a host's nat: it must be a router, its Outside one of its
// LANs, and its fields valid. The error names the host and the NIC.
func checkNAT(h HostSpec) error {
	if h.NAT == nil {
		return nil
	}
	nic := fmt.Sprintf("netlab: host %q: NIC on LAN %q", h.Name, h.NAT.Outside)
	if h.NAT.Outside == "" {
		return fmt.Errorf("netlab: host %q: nat.outside: missing (name the NIC's LAN): %w", h.Name, ErrBadNAT)
	}
	if !h.Router {
		return fmt.Errorf("%s: nat: host is not a router (set router: true): %w", nic, ErrBadNAT)
	}
	if h.NICOn(h.NAT.Outside) == nil {
		return fmt.Errorf("%s: nat.outside: host is not on LAN %q: %w", nic, h.NAT.Outside, ErrBadNAT)
	}
	if _, err := h.NAT.Profile(); err != nil {
		return fmt.Errorf("%s: %w", nic, err)
	}
	return nil
}

// checkNATs checks what involves several hosts: a LAN is inside at most one
// NAT (its hosts' default route goes to that NAT).
func checkNATs(t Topology) error {
	inside := map[string]string{}
	for _, h := range t.Hosts {
		if h.NAT == nil {
			continue
		}
		for _, n := range h.NICs {
			if n.LAN == h.NAT.Outside {
				continue
			}
			if other, dup := inside[n.LAN]; dup {
				return fmt.Errorf("netlab: host %q: nat: LAN %q is already inside the NAT of host %q (one NAT per inside LAN): %w", h.Name, n.LAN, other, ErrBadNAT)
			}
			inside[n.LAN] = h.Name
		}
	}
	return nil
}

// natInside reports whether LAN lan is on the inside of the NAT of router r.
func natInside(r *HostSpec, lan string) bool {
	return r.NAT != nil && lan != r.NAT.Outside && r.NICOn(lan) != nil
}

// cloneNAT copies a NATSpec (nil stays nil).
func cloneNAT(s *NATSpec) *NATSpec {
	if s == nil {
		return nil
	}
	c := *s
	if s.Hairpin != nil {
		h := *s.Hairpin
		c.Hairpin = &h
	}
	return &c
}

// natGateway is the address, on the host's LAN, of the NAT router whose
// inside that LAN is (the first in NIC order), if any.
func natGateway(t Topology, me *HostSpec) (netip.Addr, bool) {
	for _, n := range me.NICs {
		for i := range t.Hosts {
			r := &t.Hosts[i]
			if r.Name != me.Name && natInside(r, n.LAN) {
				return r.NICOn(n.LAN).Addr, true
			}
		}
	}
	return netip.Addr{}, false
}
