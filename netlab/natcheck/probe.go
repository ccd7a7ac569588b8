// Package natcheck discovers what a NAT does, from the outside in the style
// of RFC 5780: a client on a host behind the NAT talks to probe endpoints on
// two hosts of the WAN (two addresses) with two ports each, and from what
// the probes see and what gets back it reports the mapping behaviour, the
// filtering behaviour, port preservation and hairpinning, for UDP and for
// TCP (RFC 4787 and RFC 5382 terms). It measures UDP mapping lifetimes too.
//
// Everything runs in the calling process with sockets made in the hosts'
// network namespaces (netlab.Host.Do), so it works on every netlab backend.
// It is for lab tests and for people debugging traversal (`p2plab
// natcheck`); it is not a STUN server and speaks no STUN.
package natcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/p2plab/p2plab/netlab"
)

// DefaultPorts are the probe ports when none are given.
var DefaultPorts = [2]uint16{3478, 3479}

// Probe is the probe side: on each of two WAN hosts (the primary and
// alternate address), a UDP socket and a TCP listener on each of two
// ports. Endpoint i (0..3) is address i/2, port i%2: 0 = A1:P1, 1 = A1:P2,
// 2 = A2:P1, 3 = A2:P2.
type Probe struct {
	hosts [2]*netlab.Host
	eps   [4]netip.AddrPort
	udp   [4]*net.UDPConn
	tcp   [4]net.Listener

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewProbe opens the probe's sockets on hosts a and b (ports default to
// DefaultPorts). Close releases them.
func NewProbe(ctx context.Context, a, b *netlab.Host, ports [2]uint16) (_ *Probe, err error) {
	if a == nil || b == nil {
		return nil, errors.New("natcheck: probe needs two hosts")
	}
	if ports == [2]uint16{} {
		ports = DefaultPorts
	}
	p := &Probe{hosts: [2]*netlab.Host{a, b}}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	for i := range 4 {
		h := p.hosts[i/2]
		ep := netip.AddrPortFrom(h.Addr(), ports[i%2])
		p.eps[i] = ep
		err := h.Do(ctx, func() error {
			u, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ep))
			if err != nil {
				return err
			}
			p.udp[i] = u
			lc := net.ListenConfig{Control: Reuse}
			ln, err := lc.Listen(ctx, "tcp4", ep.String())
			if err != nil {
				return err
			}
			p.tcp[i] = ln
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("natcheck: probe %s on %s: %w", ep, h.Name(), err)
		}
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	for i := range 4 {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serveTCP(sctx, p.tcp[i])
		}()
	}
	return p, nil
}

// Endpoints are the probe's four endpoints (see Probe).
func (p *Probe) Endpoints() [4]netip.AddrPort { return p.eps }

// serveTCP answers every connection with the address it came from, one
// line, then closes it.
func (p *Probe) serveTCP(ctx context.Context, ln net.Listener) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			defer c.Close()
			fmt.Fprintf(c, "%s\n", c.RemoteAddr().(*net.TCPAddr).AddrPort())
			// Wait for the client to close, so that TIME_WAIT stays on
			// its side and the probe port stays free.
			var b [1]byte
			_, _ = c.Read(b[:])
		}()
	}
}

// Close closes every socket and stops the probe's goroutines.
func (p *Probe) Close() {
	if p.cancel != nil {
		p.cancel()
	}
	for i := range 4 {
		if p.udp[i] != nil {
			p.udp[i].Close()
		}
		if p.tcp[i] != nil {
			p.tcp[i].Close()
		}
	}
	p.wg.Wait()
}

// Reuse is a net.Dialer / net.ListenConfig Control that sets SO_REUSEADDR
// and SO_REUSEPORT, so that a TCP port can dial several peers and listen at
// once (the same-port trick of hole punching).
func Reuse(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}
	}); err != nil {
		return err
	}
	return serr
}
