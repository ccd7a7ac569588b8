package conform

import (
	"context"
	"net"
	"net/netip"

	"github.com/p2plab/p2plab/internal/reuseport"
)

// Network is where the checker's fake peers live: it makes their listeners
// and connections (with SO_REUSEADDR and SO_REUSEPORT, so a fake peer can
// listen on and dial from its server connection's endpoint).
type Network interface {
	// Addr is the IP address fake peers use.
	Addr() netip.Addr
	// Listen listens on addr (port 0: any free port).
	Listen(ctx context.Context, addr netip.AddrPort) (net.Listener, error)
	// Dial connects to remote from local (zero: any local endpoint).
	Dial(ctx context.Context, local, remote netip.AddrPort) (net.Conn, error)
}

// Loopback is the Network of this process on 127.0.0.1.
type Loopback struct{}

// Addr implements Network.
func (Loopback) Addr() netip.Addr { return netip.MustParseAddr("127.0.0.1") }

// Listen implements Network.
func (Loopback) Listen(ctx context.Context, addr netip.AddrPort) (net.Listener, error) {
	lc := net.ListenConfig{Control: reuseport.Control}
	return lc.Listen(ctx, "tcp", addr.String())
}

// Dial implements Network.
func (Loopback) Dial(ctx context.Context, local, remote netip.AddrPort) (net.Conn, error) {
	d := net.Dialer{Control: reuseport.Control}
	if local.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(local)
	}
	return d.DialContext(ctx, "tcp", remote.String())
}

// inHost is the Network of a lab host: every socket is made on a thread
// inside the host's network namespace.
type inHost struct {
	addr netip.Addr
	do   func(ctx context.Context, fn func() error) error
}

func (h inHost) Addr() netip.Addr { return h.addr }

func (h inHost) Listen(ctx context.Context, addr netip.AddrPort) (net.Listener, error) {
	var ln net.Listener
	err := h.do(ctx, func() error {
		var err error
		ln, err = Loopback{}.Listen(ctx, addr)
		return err
	})
	return ln, err
}

func (h inHost) Dial(ctx context.Context, local, remote netip.AddrPort) (net.Conn, error) {
	var c net.Conn
	err := h.do(ctx, func() error {
		var err error
		c, err = Loopback{}.Dial(ctx, local, remote)
		return err
	})
	return c, err
}
