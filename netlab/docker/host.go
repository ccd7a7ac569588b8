package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/p2plab/p2plab/netlab"
)

// hostSysctls are set in every host's namespace: no IPv6 chatter (as on
// the netns backend).
var hostSysctls = map[string]string{
	"net.ipv6.conf.all.disable_ipv6":     "1",
	"net.ipv6.conf.default.disable_ipv6": "1",
}

// ErrHostNotStarted is wrapped by Create's error when a host container's
// program ("p2plab idle", which holds the host's namespace) could not start
// or exited at once: the engine refused to start it, it was not running
// right after start, or it was gone before its namespace was configured
// (which of these a broken binary hits depends on timing).
var ErrHostNotStarted = errors.New("the host's program did not start")

// createHost starts the container that holds a host's namespace: it runs
// "p2plab idle", is attached to the network of each of the host's LANs,
// and then gets the host's lab addresses and routes (configureHost).
func (b *Backend) createHost(ctx context.Context, spec netlab.HostSpec) error {
	if len(spec.NICs) == 0 {
		return fmt.Errorf("docker: host %s has no NIC", spec.Name)
	}
	run := b.cfg.RunID
	name := hostName(run, spec.Name)
	outside, _ := b.Mount(spec.Name)
	firstNet := networkName(run, spec.NICs[0].LAN)
	sysctls := map[string]string{}
	for k, v := range hostSysctls {
		sysctls[k] = v
	}
	if spec.Router {
		sysctls["net.ipv4.ip_forward"] = "1"
	}
	req := testcontainers.ContainerRequest{
		Image:      b.imageTag(),
		Name:       name,
		Entrypoint: []string{BinaryPath, "idle"},
		Labels:     labels(run, "host", spec.Name, b.pid),
		Networks:   []string{firstNet},
		ConfigModifier: func(c *container.Config) {
			c.Hostname = sanitize(spec.Name)
			c.WorkingDir = MountPath
			c.Env = baseEnv()
		},
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.NetworkMode = container.NetworkMode(firstNet)
			hc.Binds = []string{outside + ":" + MountPath}
			hc.Sysctls = sysctls
		},
	}
	ctr, err := b.p.CreateContainer(ctx, req)
	if ctr != nil && ctr.GetContainerID() != "" {
		// Track it before looking at err: Destroy removes it either way.
		b.mu.Lock()
		b.hosts[spec.Name] = &host{name: spec.Name, id: ctr.GetContainerID(), procs: map[string]*process{}}
		b.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("docker: host %s: %w", spec.Name, err)
	}
	id := ctr.GetContainerID()
	cli := b.p.Client()
	for _, nic := range spec.NICs[1:] {
		nn := networkName(run, nic.LAN)
		if _, err := cli.NetworkConnect(ctx, nn, client.NetworkConnectOptions{Container: id, EndpointConfig: &network.EndpointSettings{}}); err != nil {
			return fmt.Errorf("docker: host %s: connect to %s: %w", spec.Name, nn, err)
		}
	}
	if err := ctr.Start(ctx); err != nil {
		return fmt.Errorf("docker: host %s: start: %w: %w", spec.Name, ErrHostNotStarted, err)
	}
	ins, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("docker: host %s: inspect: %w", spec.Name, err)
	}
	st := ins.Container.State
	if st == nil || !st.Running || st.Pid == 0 {
		return fmt.Errorf("docker: host %s: container %s is not running after start (%s): %w", spec.Name, name, exitState(st), ErrHostNotStarted)
	}
	macs := map[string]net.HardwareAddr{}
	for _, nic := range spec.NICs {
		ep := ins.Container.NetworkSettings.Networks[networkName(run, nic.LAN)]
		if ep == nil || len(ep.MacAddress) == 0 {
			return fmt.Errorf("docker: host %s: engine reports no interface on %s", spec.Name, nic.LAN)
		}
		macs[nic.LAN] = net.HardwareAddr(ep.MacAddress)
	}
	if err := b.configureHost(st.Pid, spec, macs); err != nil {
		// A program that exits at once takes its namespace with it: say
		// so rather than leave only the netlink error that followed.
		if gone, state := b.exitedSince(ctx, id, st.Pid); gone {
			return fmt.Errorf("docker: host %s: container %s exited before its namespace was configured (%s): %w: %w", spec.Name, name, state, ErrHostNotStarted, err)
		}
		return fmt.Errorf("docker: host %s: %w", spec.Name, err)
	}
	b.mu.Lock()
	b.hosts[spec.Name].pid = st.Pid
	b.mu.Unlock()
	return nil
}

// exitedSince reports whether container id is no longer running the
// process pid (it exited, or restarted as another process), with its state.
func (b *Backend) exitedSince(ctx context.Context, id string, pid int) (bool, string) {
	ins, err := b.p.Client().ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil || ins.Container.State == nil {
		return false, ""
	}
	st := ins.Container.State
	return !st.Running || st.Pid != pid, exitState(st)
}

// exitState describes a container state for errors.
func exitState(st *container.State) string {
	if st == nil {
		return "no state"
	}
	s := fmt.Sprintf("status %s, exit code %d", st.Status, st.ExitCode)
	if st.Error != "" {
		s += ", " + st.Error
	}
	return s
}

// configureHost gives each of the host's interfaces (found by the MAC the
// engine reports for its LAN) exactly the host's lab address, removes every
// default route, and adds the routes the topology implies (via routers),
// as the netns backend does.
func (b *Backend) configureHost(pid int, spec netlab.HostSpec, macs map[string]net.HardwareAddr) error {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("netns of pid %d: %w", pid, err)
	}
	defer ns.Close()
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in pid %d: %w", pid, err)
	}
	defer nh.Close()
	links, err := netlab.RetryDump(nh.LinkList)
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	bits := map[string]int{}
	for _, l := range b.cfg.Topology.LANs {
		bits[l.Name] = l.Subnet.Bits()
	}
	for _, nic := range spec.NICs {
		var link netlink.Link
		for _, l := range links {
			if bytes.Equal(l.Attrs().HardwareAddr, macs[nic.LAN]) {
				link = l
			}
		}
		if link == nil {
			return fmt.Errorf("LAN %s: no interface with MAC %s", nic.LAN, macs[nic.LAN])
		}
		old, err := netlab.RetryDump(func() ([]netlink.Addr, error) { return nh.AddrList(link, netlink.FAMILY_V4) })
		if err != nil {
			return fmt.Errorf("LAN %s: list addresses: %w", nic.LAN, err)
		}
		for _, a := range old {
			if err := nh.AddrDel(link, &a); err != nil {
				return fmt.Errorf("LAN %s: remove engine address %s: %w", nic.LAN, a.IPNet, err)
			}
		}
		a := &netlink.Addr{IPNet: &net.IPNet{IP: nic.Addr.AsSlice(), Mask: net.CIDRMask(bits[nic.LAN], 32)}}
		if err := nh.AddrAdd(link, a); err != nil {
			return fmt.Errorf("LAN %s: address %s: %w", nic.LAN, nic.Addr, err)
		}
	}
	routes, err := netlab.RetryDump(func() ([]netlink.Route, error) { return nh.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			if err := nh.RouteDel(&r); err != nil {
				return fmt.Errorf("remove default route via %s: %w", r.Gw, err)
			}
		}
	}
	for _, r := range b.cfg.Topology.Routes(spec.Name) {
		rt := &netlink.Route{
			Dst: &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), 32)},
			Gw:  r.Via.AsSlice(),
		}
		if err := nh.RouteAdd(rt); err != nil {
			return fmt.Errorf("route to %s via %s: %w", r.Dst, r.Via, err)
		}
	}
	return nil
}
