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
	"strings"
	"time"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/netlab/docker"
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
	return startServerLab(ctx, netlab.NewNetns(), netlab.Options{}, template, hb, misses,
		func(vars map[string]string) netlab.Command {
			return netlab.Command{Argv: []string{"/bin/sh", "-c", Expand(template, vars)}}
		})
}

// StartServerImage is StartServerInLab on the docker backend with the
// server under test in its own image (present locally: nothing is pulled).
// args, if not empty, is the container's command line as a template (split
// on spaces, no shell); otherwise the image's own entrypoint runs. Either
// way the environment holds P2PLAB_LISTEN, P2PLAB_ADMIN, P2PLAB_HEARTBEAT
// and P2PLAB_MISSES. binary is a static p2plab build for the lab's own
// containers (the checker host).
func StartServerImage(ctx context.Context, image, args, binary string, hb time.Duration, misses int) (*LabServer, ServerTarget, error) {
	if err := docker.Available(ctx); err != nil {
		return nil, ServerTarget{}, fmt.Errorf("conform: --image needs a Docker engine: %w", err)
	}
	return startServerLab(ctx, docker.New(), netlab.Options{Binary: binary}, args, hb, misses,
		func(vars map[string]string) netlab.Command {
			c := netlab.Command{Image: image}
			if args != "" {
				c.Argv = strings.Fields(Expand(args, vars))
			}
			for _, k := range []string{"listen", "admin", "heartbeat", "misses"} {
				c.Env = append(c.Env, "P2PLAB_"+strings.ToUpper(k)+"="+vars[k])
			}
			return c
		})
}

// startServerLab runs a server under test on host "sut" of a new lab on b
// (made by command from the placeholder values) and returns a target that
// dials from host "checker".
func startServerLab(ctx context.Context, b netlab.Backend, opts netlab.Options, template string, hb time.Duration, misses int,
	command func(vars map[string]string) netlab.Command) (*LabServer, ServerTarget, error) {
	topo := netlab.Topology{
		LANs: []netlab.LAN{{Name: "lan", Subnet: netip.MustParsePrefix("198.18.1.0/24")}},
		Hosts: []netlab.HostSpec{
			{Name: "sut", NICs: []netlab.NIC{{LAN: "lan"}}},
			{Name: "checker", NICs: []netlab.NIC{{LAN: "lan"}}},
		},
	}
	lab, err := netlab.New(ctx, b, topo, opts)
	if err != nil {
		return nil, ServerTarget{}, fmt.Errorf("conform: lab: %w", err)
	}
	ls := &LabServer{lab: lab}
	sut, checker := lab.Host("sut"), lab.Host("checker")
	listen := netip.AddrPortFrom(sut.Addr(), labListenPort)
	admin := netip.AddrPortFrom(sut.Addr(), labAdminPort)
	vars := map[string]string{"listen": listen.String(), "admin": admin.String(), "heartbeat": hb.String(), "misses": fmt.Sprint(misses)}
	ls.out = filepath.Join(lab.Dir(), "server.out")
	cmd := command(vars)
	cmd.Stdout, cmd.Stderr = ls.out, ls.out
	ls.proc, err = sut.Start(ctx, cmd)
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
	// With an image and no args, the admin endpoint is offered through the
	// environment: check it when it answers.
	wantAdmin := containsPlaceholder(template, "admin")
	if template == "" {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		wantAdmin = poll(pctx, func() (bool, error) {
			c, err := dial(pctx, admin)
			if err != nil {
				return false, nil
			}
			_ = c.Close()
			return true, nil
		}) == nil
		pcancel()
	}
	if wantAdmin {
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

// LabClient is the lab a client under test is checked in: the reference
// server on host "server", each client under test on host "cut", and the
// fake peers on host "checker", all on one LAN.
type LabClient struct {
	lab    *netlab.Lab
	server netlab.Process
	out    string
}

// StartClientLab brings up a netns lab, starts the reference server
// (refServer is its command template, with {listen}, {heartbeat} and
// {misses}) on host "server", and returns a ClientTarget whose clients run
// from template on host "cut" and whose fake peers live on host "checker".
// Close the LabClient to remove the lab. It needs root.
func StartClientLab(ctx context.Context, refServer, template string, hb time.Duration, misses int) (*LabClient, ClientTarget, error) {
	shell := func(tmpl string) func(map[string]string) netlab.Command {
		return func(vars map[string]string) netlab.Command {
			return netlab.Command{Argv: []string{"/bin/sh", "-c", Expand(tmpl, vars)}}
		}
	}
	return startClientLab(ctx, netlab.NewNetns(), netlab.Options{}, shell(refServer), shell(template), hb, misses, false)
}

// StartClientImage is StartClientLab on the docker backend with each client
// under test started from its own image (present locally: nothing is
// pulled). args, if not empty, is the container's command line as a
// template with the placeholders of StartClientLab (split on spaces, no
// shell); otherwise the image's own entrypoint runs. Either way the
// environment holds P2PLAB_SERVER, P2PLAB_USER, P2PLAB_CONTROL, P2PLAB_LOG,
// P2PLAB_FILES, P2PLAB_HEARTBEAT and P2PLAB_MISSES; paths are as the
// container sees them (its host's folder is mounted at docker.MountPath).
// The reference server runs the lab's own p2plab (binary: a static build).
func StartClientImage(ctx context.Context, image, args, binary string, hb time.Duration, misses int) (*LabClient, ClientTarget, error) {
	if err := docker.Available(ctx); err != nil {
		return nil, ClientTarget{}, fmt.Errorf("conform: --image needs a Docker engine: %w", err)
	}
	refServer := func(vars map[string]string) netlab.Command {
		return netlab.Command{Argv: strings.Fields(Expand(docker.BinaryPath+" server --listen {listen} --heartbeat {heartbeat} --misses {misses}", vars))}
	}
	client := func(vars map[string]string) netlab.Command {
		c := netlab.Command{Image: image}
		if args != "" {
			c.Argv = strings.Fields(Expand(args, vars))
		}
		for _, k := range []string{"server", "user", "control", "log", "files", "heartbeat", "misses"} {
			c.Env = append(c.Env, "P2PLAB_"+strings.ToUpper(k)+"="+vars[k])
		}
		return c
	}
	return startClientLab(ctx, docker.New(), netlab.Options{Binary: binary}, refServer, client, hb, misses, true)
}

// startClientLab makes the three-host lab on b; mapPaths hands the client
// under test its paths as its host sees them (a container's mount).
func startClientLab(ctx context.Context, b netlab.Backend, opts netlab.Options, refServer, client func(map[string]string) netlab.Command,
	hb time.Duration, misses int, mapPaths bool) (*LabClient, ClientTarget, error) {
	if hb <= 0 {
		hb = 500 * time.Millisecond
	}
	if misses <= 0 {
		misses = 3
	}
	topo := netlab.Topology{
		LANs: []netlab.LAN{{Name: "lan", Subnet: netip.MustParsePrefix("198.18.1.0/24")}},
		Hosts: []netlab.HostSpec{
			{Name: "server", NICs: []netlab.NIC{{LAN: "lan"}}},
			{Name: "cut", NICs: []netlab.NIC{{LAN: "lan"}}},
			{Name: "checker", NICs: []netlab.NIC{{LAN: "lan"}}},
		},
	}
	lab, err := netlab.New(ctx, b, topo, opts)
	if err != nil {
		return nil, ClientTarget{}, fmt.Errorf("conform: lab: %w", err)
	}
	lc := &LabClient{lab: lab, out: filepath.Join(lab.Dir(), "server.out")}
	srv, cutHost, checker := lab.Host("server"), lab.Host("cut"), lab.Host("checker")
	listen := netip.AddrPortFrom(srv.Addr(), labListenPort)
	vars := map[string]string{"listen": listen.String(), "heartbeat": "1s", "misses": "3"}
	sc := refServer(vars)
	sc.Stdout, sc.Stderr = lc.out, lc.out
	lc.server, err = srv.Start(ctx, sc)
	if err != nil {
		lc.Close()
		return nil, ClientTarget{}, fmt.Errorf("conform: start the reference server on lab host server: %w", err)
	}
	fakes := inHost{addr: checker.Addr(), do: checker.Do}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var lastErr error
	if err := poll(wctx, func() (bool, error) {
		c, err := fakes.Dial(wctx, netip.AddrPort{}, listen)
		if err != nil {
			lastErr = err
			return false, nil
		}
		_ = c.Close()
		return true, nil
	}); err != nil {
		b, _ := os.ReadFile(lc.out)
		lc.Close()
		return nil, ClientTarget{}, fmt.Errorf("conform: the reference server did not accept connections on %s (last: %v); its output:\n%s", listen, lastErr, b)
	}
	path := func(p string) string { return p }
	if mapPaths {
		path = cutHost.Path
	}
	start := func(ctx context.Context, run ClientRun) (func(), error) {
		vars := map[string]string{
			"server": run.Server.String(), "user": run.User, "control": path(run.Control), "log": path(run.Log),
			"files": path(run.Files), "heartbeat": run.Heartbeat.String(), "misses": fmt.Sprint(run.Misses),
		}
		out := run.Control + ".out"
		cc := client(vars)
		cc.Stdout, cc.Stderr = out, out
		p, err := cutHost.Start(ctx, cc)
		if err != nil {
			return nil, fmt.Errorf("conform: start the client on lab host cut: %w", err)
		}
		return func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = p.Stop(sctx, 2*time.Second)
		}, nil
	}
	t := ClientTarget{Start: start, Server: listen, Heartbeat: hb, Misses: misses, Net: fakes}
	if mapPaths {
		// The checks' folders live in the client host's mount.
		t.Dir, t.Path = filepath.Join(cutHost.Dir(), "conform"), cutHost.Path
	}
	return lc, t, nil
}

// Close stops the reference server and removes the lab.
func (lc *LabClient) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if lc.server != nil {
		_ = lc.server.Stop(ctx, 2*time.Second)
	}
	return lc.lab.Close(ctx)
}
