package sim

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/p2plab/p2plab/internal/reuseport"
	"github.com/p2plab/p2plab/netlab"
)

// HostNet makes sockets as a program on a lab host would: on a thread
// inside the host's network namespace (netlab.Host.Do), with SO_REUSEADDR
// and SO_REUSEPORT so a listener may share its port with a connection's
// local endpoint (the P2P same-port listen of docs/protocol.md §6.1). Its
// methods are the lab's only way to dial into a lab.
type HostNet struct{ h *netlab.Host }

// NetOf returns the HostNet of h.
func NetOf(h *netlab.Host) HostNet { return HostNet{h: h} }

// Addr is the host's address on its first LAN.
func (n HostNet) Addr() netip.Addr { return n.h.Addr() }

// Listen listens on addr (port 0: any free port) inside the host.
func (n HostNet) Listen(ctx context.Context, addr netip.AddrPort) (net.Listener, error) {
	var ln net.Listener
	err := n.h.Do(ctx, func() error {
		lc := net.ListenConfig{Control: reuseport.Control}
		var err error
		ln, err = lc.Listen(ctx, "tcp", addr.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sim: listen on %s in %s: %w", addr, n.h.Name(), err)
	}
	return ln, nil
}

// Dial connects to remote from local, inside the host. A zero local
// leaves the endpoint to the kernel.
func (n HostNet) Dial(ctx context.Context, local, remote netip.AddrPort) (net.Conn, error) {
	var c net.Conn
	err := n.h.Do(ctx, func() error {
		d := net.Dialer{Control: reuseport.Control}
		if local.IsValid() {
			d.LocalAddr = net.TCPAddrFromAddrPort(local)
		}
		var err error
		c, err = d.DialContext(ctx, "tcp", remote.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sim: dial %s from %s: %w", remote, n.h.Name(), err)
	}
	return c, nil
}

// Reachable reports (nil) whether a TCP connection to remote opens from
// inside the host: something listens there.
func (n HostNet) Reachable(ctx context.Context, remote netip.AddrPort) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := n.Dial(ctx, netip.AddrPort{}, remote)
	if err != nil {
		return err
	}
	return c.Close()
}

// HTTP is an HTTP client whose connections are dialled from inside the
// host (IP literals only), so an API on the host's loopback stays off the
// lab LAN and a fault there does not hide it.
func (n HostNet) HTTP() *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			ap, err := netip.ParseAddrPort(addr)
			if err != nil {
				return nil, fmt.Errorf("sim: HTTP address %q: %w", addr, err)
			}
			return n.Dial(ctx, netip.AddrPort{}, ap)
		},
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     10 * time.Second,
	}
	return &http.Client{Transport: tr}
}
