package natcheck

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// Behavior is what the classifier found for one transport.
type Behavior struct {
	// Local is the client's own endpoint of the first test; Mapped is what
	// the primary probe endpoint saw it as.
	Local, Mapped netip.AddrPort
	// Translated is false when the probes see the client's own address
	// (no NAT on the way).
	Translated bool
	// Mapping and Filtering are the RFC 4787 behaviours found.
	Mapping, Filtering netlab.NATBehavior
	// PortPreserved: the outside port of a new mapping is the inside one.
	PortPreserved bool
	// Hairpin: a packet (a connection, for TCP) from one inside endpoint
	// to another's mapped endpoint arrived.
	Hairpin bool
}

// Ports is Preserve or Random as a NATPorts value.
func (b Behavior) Ports() netlab.NATPorts {
	if b.PortPreserved {
		return netlab.PortsPreserve
	}
	return netlab.PortsRandom
}

// Matches returns nil if b is what a NAT with profile p must show, else an
// error listing every axis that differs.
func (b Behavior) Matches(p netlab.NATProfile) error {
	var diffs []string
	if !b.Translated {
		diffs = append(diffs, "no translation seen")
	}
	if b.Mapping != p.Mapping {
		diffs = append(diffs, fmt.Sprintf("mapping %s, want %s", b.Mapping, p.Mapping))
	}
	if b.Filtering != p.Filtering {
		diffs = append(diffs, fmt.Sprintf("filtering %s, want %s", b.Filtering, p.Filtering))
	}
	if b.Ports() != p.Ports {
		diffs = append(diffs, fmt.Sprintf("ports %s, want %s", b.Ports(), p.Ports))
	}
	if b.Hairpin != p.Hairpin {
		diffs = append(diffs, fmt.Sprintf("hairpin %t, want %t", b.Hairpin, p.Hairpin))
	}
	if len(diffs) == 0 {
		return nil
	}
	return errors.New(strings.Join(diffs, "; "))
}

// Report is the classifier's result.
type Report struct {
	UDP, TCP Behavior
}

// Config tunes Run.
type Config struct {
	// Wait is how long a packet or connection that a stricter NAT drops is
	// waited for before it counts as dropped (default 500ms for UDP; TCP
	// waits twice as long). Every UDP negative is followed by a control
	// packet that must arrive.
	Wait time.Duration
	// Answer bounds every step expected to succeed (default 5s).
	Answer time.Duration
}

func (c Config) wait() time.Duration {
	if c.Wait > 0 {
		return c.Wait
	}
	return 500 * time.Millisecond
}

func (c Config) answer() time.Duration {
	if c.Answer > 0 {
		return c.Answer
	}
	return 5 * time.Second
}

// ErrNoAnswer is wrapped when a probe or the client did not get a packet
// or connection that every NAT (or none) lets through: the path is broken,
// not the NAT strict.
var ErrNoAnswer = errors.New("natcheck: no answer")

// Run classifies the NAT between host client and the probe, for UDP and
// TCP.
func Run(ctx context.Context, client *netlab.Host, p *Probe, cfg Config) (Report, error) {
	u, err := classifyUDP(ctx, client, p, cfg)
	if err != nil {
		return Report{}, fmt.Errorf("natcheck: UDP from %s: %w", client.Name(), err)
	}
	t, err := classifyTCP(ctx, client, p, cfg)
	if err != nil {
		return Report{UDP: u}, fmt.Errorf("natcheck: TCP from %s: %w", client.Name(), err)
	}
	return Report{UDP: u, TCP: t}, nil
}

// udpSocket opens an unconnected UDP socket on an ephemeral port of h.
func udpSocket(ctx context.Context, h *netlab.Host) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := h.Do(ctx, func() error {
		var err error
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(h.Addr(), 0)))
		return err
	})
	return c, err
}

// recv reads datagrams on c until one carrying tag arrives or d passes.
func recv(c *net.UDPConn, tag string, d time.Duration) (netip.AddrPort, bool) {
	deadline := time.Now().Add(d)
	buf := make([]byte, 1500)
	for {
		_ = c.SetReadDeadline(deadline)
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return netip.AddrPort{}, false
		}
		if string(buf[:n]) == tag {
			return netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), true
		}
	}
}

// mapped sends tag from c to probe endpoint i until the probe gets it, and
// returns the source the probe saw.
func (p *Probe) mapped(c *net.UDPConn, i int, tag string, d time.Duration) (netip.AddrPort, error) {
	step := 200 * time.Millisecond
	for end := time.Now().Add(d); time.Now().Before(end); {
		if _, err := c.WriteToUDPAddrPort([]byte(tag), p.eps[i]); err != nil {
			return netip.AddrPort{}, err
		}
		if from, ok := recv(p.udp[i], tag, step); ok {
			return from, nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("probe %s got nothing from %s: %w", p.eps[i], c.LocalAddr(), ErrNoAnswer)
}

func classifyUDP(ctx context.Context, h *netlab.Host, p *Probe, cfg Config) (Behavior, error) {
	var b Behavior
	s, err := udpSocket(ctx, h)
	if err != nil {
		return b, err
	}
	defer s.Close()
	b.Local = s.LocalAddr().(*net.UDPAddr).AddrPort()
	// Mapping (RFC 5780 4.3): the same socket to A1:P1, A2:P1, A2:P2.
	var x [4]netip.AddrPort
	for _, i := range []int{0, 2, 3} {
		if x[i], err = p.mapped(s, i, fmt.Sprintf("map%d", i), cfg.answer()); err != nil {
			return b, err
		}
	}
	b.Mapped = x[0]
	b.Translated = x[0] != b.Local
	b.Mapping = mappingOf(x[0], x[2], x[3])
	b.PortPreserved = x[0].Port() == b.Local.Port()

	// Filtering (RFC 5780 4.4), on a fresh mapping toward A1:P1 only.
	f, err := udpSocket(ctx, h)
	if err != nil {
		return b, err
	}
	defer f.Close()
	xf, err := p.mapped(f, 0, "filter", cfg.answer())
	if err != nil {
		return b, err
	}
	send := func(i int, tag string) error {
		_, err := p.udp[i].WriteToUDPAddrPort([]byte(tag), xf)
		return err
	}
	got := map[string]bool{}
	for _, t := range []struct {
		i   int
		tag string
	}{{3, "other-address"}, {1, "other-port"}} {
		if err := send(t.i, t.tag); err != nil {
			return b, err
		}
		_, got[t.tag] = recv(f, t.tag, cfg.wait())
	}
	if err := send(0, "control"); err != nil {
		return b, err
	}
	if _, ok := recv(f, "control", cfg.answer()); !ok {
		return b, fmt.Errorf("the control datagram from %s to %s did not arrive: %w", p.eps[0], xf, ErrNoAnswer)
	}
	b.Filtering = filteringOf(got["other-address"], got["other-port"])

	// Hairpinning (RFC 5780 4.6): two inside sockets, one sends to the
	// other's mapped endpoint.
	h1, err := udpSocket(ctx, h)
	if err != nil {
		return b, err
	}
	defer h1.Close()
	h2, err := udpSocket(ctx, h)
	if err != nil {
		return b, err
	}
	defer h2.Close()
	if _, err := p.mapped(h1, 0, "hairpin1", cfg.answer()); err != nil {
		return b, err
	}
	x2, err := p.mapped(h2, 0, "hairpin2", cfg.answer())
	if err != nil {
		return b, err
	}
	if _, err := h1.WriteToUDPAddrPort([]byte("hairpin"), x2); err != nil {
		return b, err
	}
	_, b.Hairpin = recv(h2, "hairpin", cfg.wait())
	return b, nil
}

// mappingOf classifies from the mapped endpoints toward A1:P1, A2:P1 and
// A2:P2.
func mappingOf(a1p1, a2p1, a2p2 netip.AddrPort) netlab.NATBehavior {
	switch {
	case a1p1 == a2p1:
		return netlab.EndpointIndependent
	case a2p1 == a2p2:
		return netlab.AddressDependent
	}
	return netlab.AddressAndPortDependent
}

// filteringOf classifies from whether packets from the other address (and
// port) and from the other port got in.
func filteringOf(otherAddr, otherPort bool) netlab.NATBehavior {
	switch {
	case otherAddr:
		return netlab.EndpointIndependent
	case otherPort:
		return netlab.AddressDependent
	}
	return netlab.AddressAndPortDependent
}

// tcpDial connects from h's local port (0 = any) to dst with address and
// port reuse.
func tcpDial(ctx context.Context, h *netlab.Host, local uint16, dst netip.AddrPort, d time.Duration) (*net.TCPConn, error) {
	var c net.Conn
	err := h.Do(ctx, func() error {
		dl := net.Dialer{Timeout: d, Control: Reuse, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(h.Addr(), local))}
		var err error
		c, err = dl.DialContext(ctx, "tcp4", dst.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// tcpMapped dials probe endpoint i from local port and returns the
// connection and the source the probe saw (its first line).
func (p *Probe) tcpMapped(ctx context.Context, h *netlab.Host, local uint16, i int, d time.Duration) (*net.TCPConn, netip.AddrPort, error) {
	c, err := tcpDial(ctx, h, local, p.eps[i], d)
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("dial %s from port %d: %w: %w", p.eps[i], local, err, ErrNoAnswer)
	}
	_ = c.SetReadDeadline(time.Now().Add(d))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		c.Close()
		return nil, netip.AddrPort{}, fmt.Errorf("read from %s: %w: %w", p.eps[i], err, ErrNoAnswer)
	}
	ap, err := netip.ParseAddrPort(strings.TrimSpace(line))
	if err != nil {
		c.Close()
		return nil, netip.AddrPort{}, fmt.Errorf("probe %s answered %q", p.eps[i], line)
	}
	return c, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// listenOn listens on h's local port (with reuse) and writes tag to every
// connection it accepts, until the returned stop is called.
func listenOn(ctx context.Context, h *netlab.Host, port uint16, tag string) (func(), error) {
	var ln net.Listener
	err := h.Do(ctx, func() error {
		lc := net.ListenConfig{Control: Reuse}
		var err error
		ln, err = lc.Listen(ctx, "tcp4", netip.AddrPortFrom(h.Addr(), port).String())
		return err
	})
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s\n", tag)
			c.Close()
		}
	}()
	return func() { ln.Close(); <-done }, nil
}

// reaches dials dst from h (any port) and reports whether it read tag.
func reaches(ctx context.Context, h *netlab.Host, dst netip.AddrPort, tag string, d time.Duration) bool {
	c, err := tcpDial(ctx, h, 0, dst, d)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(d))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.TrimSpace(line) == tag
}

func classifyTCP(ctx context.Context, h *netlab.Host, p *Probe, cfg Config) (Behavior, error) {
	var b Behavior
	wait := 2 * cfg.wait()
	// Mapping: one local port to A1:P1, A2:P1, A2:P2.
	var x [4]netip.AddrPort
	var local uint16
	for _, i := range []int{0, 2, 3} {
		c, ap, err := p.tcpMapped(ctx, h, local, i, cfg.answer())
		if err != nil {
			return b, err
		}
		if local == 0 {
			b.Local = c.LocalAddr().(*net.TCPAddr).AddrPort()
			local = b.Local.Port()
		}
		c.Close()
		x[i] = ap
	}
	b.Mapped = x[0]
	b.Translated = x[0] != b.Local
	b.Mapping = mappingOf(x[0], x[2], x[3])
	b.PortPreserved = x[0].Port() == b.Local.Port()

	// Filtering: a connection out to A1:P1 stays open; the client listens
	// on its port; the probes' other address, then A1 from another port,
	// dial the mapped endpoint.
	c, xf, err := p.tcpMapped(ctx, h, 0, 0, cfg.answer())
	if err != nil {
		return b, err
	}
	defer c.Close()
	stop, err := listenOn(ctx, h, c.LocalAddr().(*net.TCPAddr).AddrPort().Port(), "inside")
	if err != nil {
		return b, err
	}
	otherAddr := reaches(ctx, p.hosts[1], xf, "inside", wait)
	otherPort := reaches(ctx, p.hosts[0], xf, "inside", wait)
	stop()
	b.Filtering = filteringOf(otherAddr, otherPort)

	// Hairpinning: the client dials the mapped endpoint of a second
	// connection of its own, which listens on its port.
	c2, x2, err := p.tcpMapped(ctx, h, 0, 0, cfg.answer())
	if err != nil {
		return b, err
	}
	defer c2.Close()
	stop, err = listenOn(ctx, h, c2.LocalAddr().(*net.TCPAddr).AddrPort().Port(), "hairpin")
	if err != nil {
		return b, err
	}
	b.Hairpin = reaches(ctx, h, x2, "hairpin", wait)
	stop()
	return b, nil
}
