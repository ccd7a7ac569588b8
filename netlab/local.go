package netlab

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/vishvananda/netns"
)

// ErrNotSupported is returned (wrapped) by every operation the local
// backend cannot do: faults on links and packets (cut, block, partition,
// loss, rate), captures, routers and images. Match it with errors.Is.
var ErrNotSupported = errors.New("not supported on the local backend")

// BackendLocal, BackendNetns and BackendDocker are the names backends
// register under (see Register).
const (
	BackendLocal  = "local"
	BackendNetns  = "netns"
	BackendDocker = "docker"
)

func init() {
	Register(BackendNetns, func(context.Context) (Backend, error) { return NewNetns(), nil })
	Register(BackendLocal, func(context.Context) (Backend, error) { return NewLocal(), nil })
}

// Loopback blocks of the local backend: a lab takes one /24 out of
// 127.64.0.0/10 (16384 blocks, none of them the machine's own 127.0.0.x)
// and holds it, while it runs, with an abstract unix socket named after
// the block. A second lab, in this process or any other of the machine's
// namespace, cannot bind the same name, so parallel runs never share
// addresses; the name vanishes with the socket (nothing to clean up).
var localRange = netip.MustParsePrefix("127.64.0.0/10")

// localBlocks is how many /24 blocks localRange holds.
const localBlocks = 1 << (24 - 10)

// NewLocal returns the local backend: rootless, for unit tests and
// machines without namespaces. Every host shares the lab process's own
// network namespace and gets its own loopback address 127.a.b.N from a
// block no other live lab holds; programs are plain child processes (each
// in its own process group, killed if the lab process dies). LANs are not
// isolated: every host reaches every other. A program's outgoing
// connections leave from 127.0.0.1 unless it binds its host's address
// (Host.Do's sockets do not bind either: use the address explicitly).
// Freeze and Thaw work (SIGSTOP/SIGCONT to each program's process group);
// every other fault, captures, routers, NATs and images return
// ErrNotSupported.
func NewLocal() Backend { return &localBackend{} }

// localBackend implements Backend on the machine's own namespace.
type localBackend struct {
	mu    sync.Mutex
	cfg   Config
	hosts map[string]bool
	block *net.UnixListener // holds the lab's loopback block
	procs []*nsProc
}

// Name implements Backend.
func (b *localBackend) Name() string { return BackendLocal }

// Binary implements Backend: hosts see the machine's own files.
func (b *localBackend) Binary() string { return b.cfg.Binary }

// Mount implements Backend: a host's directory is the same path inside.
func (b *localBackend) Mount(host string) (outside, inside string) {
	d := filepath.Join(b.cfg.Dir, "hosts", host)
	return d, d
}

// sharesNamespace marks a backend whose hosts live in the lab process's
// own network namespace: Host.Do runs its function in place, and New gives
// the hosts loopback addresses (readdress) instead of the topology's.
type sharesNamespace interface {
	readdress(runID string, t Topology) (Topology, error)
}

// readdress takes a free loopback block and gives every NIC of t the next
// address in it; every LAN's subnet becomes the block.
func (b *localBackend) readdress(runID string, t Topology) (Topology, error) {
	for _, h := range t.Hosts {
		if h.Router || h.NAT != nil {
			return t, fmt.Errorf("netlab: local: router or NAT host %s: %w", h.Name, ErrNotSupported)
		}
	}
	n := 0
	for _, h := range t.Hosts {
		n += len(h.NICs)
	}
	if n > 254 {
		return t, fmt.Errorf("netlab: local: %d NICs do not fit one loopback block (254)", n)
	}
	block, ln, err := takeBlock(runID)
	if err != nil {
		return t, err
	}
	b.mu.Lock()
	b.block = ln
	b.mu.Unlock()
	out := Topology{LANs: make([]LAN, len(t.LANs)), Hosts: make([]HostSpec, len(t.Hosts))}
	for i, l := range t.LANs {
		out.LANs[i] = LAN{Name: l.Name, Subnet: block}
	}
	a := block.Addr()
	for i, h := range t.Hosts {
		h.NICs = append([]NIC(nil), h.NICs...)
		for j := range h.NICs {
			a = a.Next()
			h.NICs[j].Addr = a
		}
		out.Hosts[i] = h
	}
	return out, nil
}

// takeBlock finds a loopback /24 that no live lab holds, starting from one
// derived from the run id, and holds it.
func takeBlock(runID string) (netip.Prefix, *net.UnixListener, error) {
	h := fnv.New32a()
	h.Write([]byte(runID))
	first := int(h.Sum32() % localBlocks)
	base := localRange.Addr().As4()
	for i := range localBlocks {
		k := (first + i) % localBlocks
		a := base
		a[1] += byte(k >> 8)
		a[2] = byte(k)
		p := netip.PrefixFrom(netip.AddrFrom4(a), 24)
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: "@p2plab-local-" + p.Addr().String(), Net: "unix"})
		if err == nil {
			return p, ln, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return netip.Prefix{}, nil, fmt.Errorf("netlab: local: hold loopback block %s: %w", p, err)
		}
	}
	return netip.Prefix{}, nil, fmt.Errorf("netlab: local: every loopback block of %s is in use", localRange)
}

// Create implements Backend: the hosts' directories exist already (New
// makes them) and their addresses are on the loopback device, so there is
// nothing to make.
func (b *localBackend) Create(ctx context.Context, cfg Config) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.block == nil {
		return fmt.Errorf("netlab: local: no loopback block (New readdresses the topology first)")
	}
	b.cfg = cfg
	b.hosts = map[string]bool{}
	for _, h := range cfg.Topology.Hosts {
		b.hosts[h.Name] = true
	}
	return ctx.Err()
}

// Start implements Backend: a plain child process in its own process
// group, killed if the lab process dies.
func (b *localBackend) Start(ctx context.Context, host string, c Command) (Process, error) {
	if c.Image != "" {
		return nil, fmt.Errorf("netlab: local: start on %s: image %q: %w", host, c.Image, ErrNotSupported)
	}
	b.mu.Lock()
	known := b.hosts[host]
	b.mu.Unlock()
	if !known {
		return nil, fmt.Errorf("netlab: local: start: unknown host %q", host)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("netlab: local: start on %s: %w", host, err)
	}
	dir, _ := b.Mount(host)
	cmd, closeFiles, err := childCommand(c, dir)
	if err != nil {
		return nil, fmt.Errorf("netlab: local: start on %s: %w", host, err)
	}
	err = cmd.Start()
	closeFiles()
	if err != nil {
		return nil, fmt.Errorf("netlab: local: start %s on %s: %w", c.Argv[0], host, err)
	}
	return track(&b.mu, &b.procs, cmd, host), nil
}

// NetNS implements Backend: the hosts have no namespace of their own.
func (b *localBackend) NetNS(ctx context.Context, host string) (netns.NsHandle, error) {
	return netns.None(), fmt.Errorf("netlab: local: host %s: network faults: %w", host, ErrNotSupported)
}

// Freeze implements Backend with SIGSTOP to the host's process groups; it
// returns once all their threads have stopped.
func (b *localBackend) Freeze(ctx context.Context, host string) error {
	return signalHost(ctx, &b.mu, &b.procs, host, syscall.SIGSTOP)
}

// Thaw implements Backend.
func (b *localBackend) Thaw(ctx context.Context, host string) error {
	return signalHost(ctx, &b.mu, &b.procs, host, syscall.SIGCONT)
}

// Destroy implements Backend: it kills every program and lets go of the
// loopback block.
func (b *localBackend) Destroy(ctx context.Context) error {
	b.mu.Lock()
	procs := b.procs
	b.procs = nil
	block := b.block
	b.block = nil
	b.mu.Unlock()
	var errs []error
	for _, p := range procs {
		if err := p.Kill(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if block != nil {
		block.Close()
	}
	return errors.Join(errs...)
}
