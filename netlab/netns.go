package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// NewNetns returns the netns backend: every host is a named network
// namespace (/run/netns/<runid>-<host>) joined by veth pairs to one bridge
// per LAN, and the bridges live in a switch namespace of their own
// (/run/netns/<runid>_sw). Nothing is created in the machine's own
// namespace, and hosts get no default route: no packet leaves the lab.
// Programs run as child processes of the lab, each in its own process group,
// and in a per-host cgroup once the host is frozen or runs programs.
// It needs root.
func NewNetns() Backend { return &netnsBackend{hosts: map[string]*nsHost{}} }

// netnsBackend implements Backend with named network namespaces.
type netnsBackend struct {
	mu      sync.Mutex
	cfg     Config
	sw      netns.NsHandle
	swName  string
	created []string // namespace names made so far, switch first
	hosts   map[string]*nsHost
	procs   []*nsProc
	cg      cgroupRoot
	nicBase []int // nicBase[i]: NICs of the hosts before host i
}

// nsHost is one host of the netns backend.
type nsHost struct {
	name   string
	nsName string
	ns     netns.NsHandle
	cgroup string // cgroup directory, "" until needed
}

// Name implements Backend.
func (b *netnsBackend) Name() string { return "netns" }

// Binary implements Backend: hosts share the lab machine's file system.
func (b *netnsBackend) Binary() string { return b.cfg.Binary }

// Mount implements Backend: hosts see the lab machine's file system, so the
// two paths are the same.
func (b *netnsBackend) Mount(host string) (outside, inside string) {
	d := filepath.Join(b.cfg.Dir, "hosts", host)
	return d, d
}

// createWorkers bounds the goroutines (each on its own locked thread) that
// bring hosts up concurrently.
func createWorkers() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// Create implements Backend.
func (b *netnsBackend) Create(ctx context.Context, cfg Config) (err error) {
	if !ValidRunID(cfg.RunID) {
		return fmt.Errorf("netlab: netns: bad run id %q", cfg.RunID)
	}
	b.mu.Lock()
	b.cfg = cfg
	b.swName = cfg.RunID + "_sw"
	b.cg = findCgroupRoot()
	b.mu.Unlock()
	defer func() {
		if err != nil {
			_ = b.Destroy(context.WithoutCancel(ctx))
		}
	}()
	for _, h := range cfg.Topology.Hosts {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, "hosts", h.Name), 0o755); err != nil {
			return fmt.Errorf("netlab: netns: host %s: %w", h.Name, err)
		}
	}

	b.nicBase = make([]int, len(cfg.Topology.Hosts))
	k := 0
	for i, h := range cfg.Topology.Hosts {
		b.nicBase[i] = k
		k += len(h.NICs)
	}
	sw, err := newNamedNSDo(b.swName, func(netns.NsHandle) error {
		// If br_netfilter is loaded (Docker loads it), bridged frames would
		// go through this namespace's iptables hooks: the switch is a plain
		// switch, so keep them out.
		for _, k := range []string{"iptables", "ip6tables", "arptables"} {
			if err := writeSysctl("net/bridge/bridge-nf-call-"+k, "0"); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	if sw >= 0 && err != nil {
		sw.Close()
		b.mu.Lock()
		b.created = append(b.created, b.swName)
		b.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("netlab: netns: create switch namespace %s: %w", b.swName, err)
	}
	b.mu.Lock()
	b.sw = sw
	b.created = append(b.created, b.swName)
	b.mu.Unlock()

	swh, err := netlink.NewHandleAt(sw, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlab: netns: switch namespace: %w", err)
	}
	bridges := make(map[string]int, len(cfg.Topology.LANs))
	for i, l := range cfg.Topology.LANs {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("br%d", i), Flags: net.FlagUp}}
		if err := swh.LinkAdd(br); err != nil {
			swh.Close()
			return fmt.Errorf("netlab: netns: LAN %s: add bridge: %w", l.Name, err)
		}
		link, err := swh.LinkByName(br.Name)
		if err != nil {
			swh.Close()
			return fmt.Errorf("netlab: netns: LAN %s: bridge: %w", l.Name, err)
		}
		bridges[l.Name] = link.Attrs().Index
	}
	swh.Close()

	// Bring hosts up a few at a time; the first error stops the starting
	// of more.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(createWorkers())
	errs := make([]error, len(cfg.Topology.Hosts))
	for i := range cfg.Topology.Hosts {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			errs[i] = b.createHost(i, bridges)
			return errs[i]
		})
	}
	_ = g.Wait() // every error is in errs
	var all []error
	for _, e := range errs {
		if e != nil {
			all = append(all, e)
		}
	}
	if ctx.Err() != nil {
		all = append(all, fmt.Errorf("netlab: netns: create: %w", ctx.Err()))
	}
	if len(all) > 0 {
		return errors.Join(all...)
	}
	return b.waitForwarding(ctx, k)
}

// portWait bounds how long Create waits for the bridges to forward.
const portWait = time.Minute

// waitForwarding waits until all n bridge ports of the switch forward, so
// that the first packets a host sends are not dropped.
func (b *netnsBackend) waitForwarding(ctx context.Context, n int) error {
	ctx, cancel := context.WithTimeout(ctx, portWait)
	defer cancel()
	delay := 500 * time.Microsecond
	for {
		var got int
		err := inNS(b.sw, func() error {
			var err error
			got, err = forwardingPorts()
			return err
		})
		if err != nil {
			return fmt.Errorf("netlab: netns: bridge ports: %w", err)
		}
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("netlab: netns: %d of %d bridge ports forwarding: %w", got, n, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// createHost makes host i's namespace and its NICs. It runs on a locked
// thread inside the new namespace for the sysctls, addresses and routes.
func (b *netnsBackend) createHost(i int, bridges map[string]int) error {
	spec := b.cfg.Topology.Hosts[i]
	name := b.cfg.RunID + "-" + spec.Name
	routes := b.cfg.Topology.Routes(spec.Name)
	h, err := newNamedNSDo(name, func(h netns.NsHandle) error {
		b.mu.Lock()
		b.created = append(b.created, name)
		b.hosts[spec.Name] = &nsHost{name: spec.Name, nsName: name, ns: h}
		b.mu.Unlock()
		return b.setupHost(h, i, spec, routes, bridges)
	})
	if err != nil {
		if h < 0 {
			b.mu.Lock()
			b.created = append(b.created, name) // a half-made mount point
			b.mu.Unlock()
		}
		return fmt.Errorf("netlab: netns: host %s: %w", spec.Name, err)
	}
	return nil
}

// setupHost runs on a thread inside the host's new namespace.
func (b *netnsBackend) setupHost(ns netns.NsHandle, i int, spec HostSpec, routes []Route, bridges map[string]int) error {
	// No IPv6: its autoconfiguration chatter would only add noise to
	// captures and loss figures.
	// (NICs arrive after this, so "default" covers them.)
	if err := writeSysctl("net/ipv6/conf/default/disable_ipv6", "1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if spec.Router {
		if err := writeSysctl("net/ipv4/ip_forward", "1"); err != nil {
			return err
		}
	}
	if err := netlink.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: loIndex}}); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	bits := map[string]int{}
	for _, l := range b.cfg.Topology.LANs {
		bits[l.Name] = l.Subnet.Bits()
	}
	for j, nic := range spec.NICs {
		eth := fmt.Sprintf("eth%d", j)
		swName := fmt.Sprintf("h%dn%d", i, j)
		var link netlink.Link
		err := errSlowVeth
		if vethFast {
			err = addVethFast(int(b.sw), swName, swIndexBase+b.nicBase[i]+j, bridges[nic.LAN], eth, hostIndexBase+j)
		}
		if err == nil {
			link = &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: hostIndexBase + j, Name: eth}}
			if err := netlink.LinkSetUp(link); err != nil {
				return fmt.Errorf("LAN %s: %s up: %w", nic.LAN, eth, err)
			}
		} else {
			// Fall back to the library's way, one step at a time.
			v := &netlink.Veth{
				LinkAttrs: netlink.LinkAttrs{
					Name:        swName,
					MasterIndex: bridges[nic.LAN],
					Flags:       net.FlagUp,
				},
				PeerName:      eth,
				PeerNamespace: netlink.NsFd(int(ns)),
			}
			swh, err := netlink.NewHandleAt(b.sw, unix.NETLINK_ROUTE)
			if err != nil {
				return fmt.Errorf("LAN %s: switch namespace: %w", nic.LAN, err)
			}
			err = swh.LinkAdd(v)
			swh.Close()
			if err != nil {
				return fmt.Errorf("LAN %s: add veth: %w", nic.LAN, err)
			}
			if link, err = netlink.LinkByName(eth); err != nil {
				return fmt.Errorf("LAN %s: %s: %w", nic.LAN, eth, err)
			}
			if err := netlink.LinkSetUp(link); err != nil {
				return fmt.Errorf("LAN %s: %s up: %w", nic.LAN, eth, err)
			}
		}
		a := &netlink.Addr{IPNet: &net.IPNet{IP: nic.Addr.AsSlice(), Mask: net.CIDRMask(bits[nic.LAN], 32)}}
		if err := netlink.AddrAdd(link, a); err != nil {
			return fmt.Errorf("LAN %s: address %s: %w", nic.LAN, nic.Addr, err)
		}
	}
	for _, r := range routes {
		rt := &netlink.Route{
			Dst: &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), 32)},
			Gw:  r.Via.AsSlice(),
		}
		if err := netlink.RouteAdd(rt); err != nil {
			return fmt.Errorf("route to %s via %s: %w", r.Dst, r.Via, err)
		}
	}
	return nil
}

// writeSysctl writes a sysctl of the calling thread's network namespace.
func writeSysctl(key, val string) error {
	return os.WriteFile("/proc/sys/"+key, []byte(val), 0o644)
}

// NetNS implements Backend.
func (b *netnsBackend) NetNS(ctx context.Context, host string) (netns.NsHandle, error) {
	b.mu.Lock()
	h := b.hosts[host]
	b.mu.Unlock()
	if h == nil {
		return netns.None(), fmt.Errorf("netlab: netns: unknown host %q", host)
	}
	fd, err := unix.Dup(int(h.ns))
	if err != nil {
		return netns.None(), fmt.Errorf("netlab: netns: host %s: %w", host, err)
	}
	unix.CloseOnExec(fd)
	return netns.NsHandle(fd), nil
}

// Destroy implements Backend: it kills every process the lab started (and
// everything in the hosts' cgroups), removes the cgroups and deletes every
// namespace, which takes the veths and bridges with it.
func (b *netnsBackend) Destroy(ctx context.Context) error {
	b.mu.Lock()
	procs := b.procs
	b.procs = nil
	hosts := b.hosts
	b.hosts = map[string]*nsHost{}
	created := b.created
	b.created = nil
	sw := b.sw
	b.sw = 0
	b.mu.Unlock()

	var errs []error
	for _, h := range hosts {
		if h.cgroup != "" {
			_ = b.cg.thaw(h.cgroup)
		}
	}
	for _, p := range procs {
		if err := p.Kill(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, h := range hosts {
		if h.cgroup != "" {
			if err := b.cg.remove(ctx, h.cgroup); err != nil {
				errs = append(errs, fmt.Errorf("netlab: netns: host %s: %w", h.name, err))
			}
		}
		h.ns.Close()
	}
	if sw > 0 {
		sw.Close()
	}
	errs = append(errs, deleteNamespaces(created)...)
	return errors.Join(errs...)
}

// deleteNamespaces unmounts and removes named namespaces, a few at a time.
func deleteNamespaces(names []string) []error {
	var g errgroup.Group
	g.SetLimit(createWorkers())
	errs := make([]error, len(names))
	for i, n := range names {
		g.Go(func() error { errs[i] = deleteNamedNS(n); return nil })
	}
	_ = g.Wait()
	return slices.DeleteFunc(errs, func(e error) bool { return e == nil })
}

// deleteNamedNS unmounts and removes /run/netns/name; a missing or
// already unmounted one is fine.
func deleteNamedNS(name string) error {
	p := filepath.Join(netnsDir, name)
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("netlab: delete namespace %s: %w", name, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("netlab: delete namespace %s: %w", name, err)
	}
	return nil
}

// netnsDir holds the bind mounts of named namespaces (as ip-netns uses it).
const netnsDir = "/run/netns"
