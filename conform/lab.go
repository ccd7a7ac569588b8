package conform

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// LabServer is a server under test running on a host of a netns lab, with
// the checker's connections made from a second host on the same LAN.
type LabServer struct {
	lab  *netlab.Lab
	proc netlab.Process
	out  string
}

// Ports the server under test is given on its lab host.
const (
	labListenPort = 7070
	labAdminPort  = 7071
)

// StartServerInLab brings up a netns lab (hosts "sut" and "checker" on one
// LAN in 198.18.0.0/15), starts the command template on "sut" with the same
// placeholders as StartServer, and waits until it accepts connections from
// "checker". The returned target dials from "checker". Close the LabServer
// to remove the lab. It needs root.
func StartServerInLab(ctx context.Context, template string, hb time.Duration, misses int) (*LabServer, ServerTarget, error) {
	topo := netlab.Topology{
		LANs: []netlab.LAN{{Name: "lan", Subnet: netip.MustParsePrefix("198.18.1.0/24")}},
		Hosts: []netlab.HostSpec{
			{Name: "sut", NICs: []netlab.NIC{{LAN: "lan"}}},
			{Name: "checker", NICs: []netlab.NIC{{LAN: "lan"}}},
		},
	}
	lab, err := netlab.New(ctx, netlab.NewNetns(), topo, netlab.Options{})
	if err != nil {
		return nil, ServerTarget{}, fmt.Errorf("conform: lab: %w", err)
	}
	ls := &LabServer{lab: lab}
	sut, checker := lab.Host("sut"), lab.Host("checker")
	listen := netip.AddrPortFrom(sut.Addr(), labListenPort)
	admin := netip.AddrPortFrom(sut.Addr(), labAdminPort)
	vars := map[string]string{"listen": listen.String(), "admin": admin.String(), "heartbeat": hb.String(), "misses": fmt.Sprint(misses)}
	ls.out = filepath.Join(lab.Dir(), "server.out")
	ls.proc, err = sut.Start(ctx, netlab.Command{Argv: []string{"/bin/sh", "-c", Expand(template, vars)}, Stdout: ls.out, Stderr: ls.out})
	if err != nil {
		ls.Close()
		return nil, ServerTarget{}, fmt.Errorf("conform: start the server on lab host sut: %w", err)
	}
	dial := func(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
		var c net.Conn
		err := checker.Do(ctx, func() error {
			var d net.Dialer
			var err error
			c, err = d.DialContext(ctx, "tcp", addr.String())
			return err
		})
		return c, err
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var lastErr error
	waitFor := func(addr netip.AddrPort) error {
		err := poll(wctx, func() (bool, error) {
			select {
			case <-ls.proc.Done():
				return false, fmt.Errorf("conform: the server exited before listening on %s; its output:\n%s", addr, ls.Output())
			default:
			}
			c, err := dial(wctx, addr)
			if err != nil {
				lastErr = err
				return false, nil
			}
			_ = c.Close()
			return true, nil
		})
		if err != nil && errors.Is(err, wctx.Err()) {
			return fmt.Errorf("conform: the server did not accept connections on %s in time (last: %v); its output:\n%s", addr, lastErr, ls.Output())
		}
		return err
	}
	if err := waitFor(listen); err != nil {
		ls.Close()
		return nil, ServerTarget{}, err
	}
	t := ServerTarget{Addr: listen, Heartbeat: hb, Misses: misses, Dial: dial}
	if containsPlaceholder(template, "admin") {
		if err := waitFor(admin); err != nil {
			ls.Close()
			return nil, ServerTarget{}, err
		}
		t.Admin = admin.String()
		t.AdminHTTP = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, a string) (net.Conn, error) {
			ap, err := netip.ParseAddrPort(a)
			if err != nil {
				return nil, err
			}
			return dial(ctx, ap)
		}}}
	}
	return ls, t, nil
}

// Output returns what the server wrote.
func (ls *LabServer) Output() string {
	b, _ := os.ReadFile(ls.out)
	if len(b) > tailMax {
		b = b[len(b)-tailMax:]
	}
	return string(b)
}

// Close stops the server and removes the lab.
func (ls *LabServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if ls.proc != nil {
		_ = ls.proc.Stop(ctx, 2*time.Second)
	}
	return ls.lab.Close(ctx)
}
