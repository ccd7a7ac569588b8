package netlab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Undo reverts one fault. Calling it twice is harmless.
type Undo func(ctx context.Context) error

// Options tune New.
type Options struct {
	// RunID overrides the generated run id (it must start with Prefix).
	RunID string
	// Dir is the run directory, kept after Close (default: a new directory
	// under os.TempDir that a successful Close removes with everything in it).
	Dir string
	// Binary is passed to the Backend (see Config.Binary).
	Binary string
	// OnEvent, if set, is called for every lab event (start, fault, undo,
	// exit) in order. It must not block.
	OnEvent func(Event)
}

// Event is one thing the lab did, for timelines.
type Event struct {
	Time   time.Time `json:"time"`
	Host   string    `json:"host,omitempty"`
	Kind   string    `json:"kind"` // e.g. "up", "start", "exit", "cut", "restore", "block", ...
	Detail string    `json:"detail,omitempty"`
}

// StopGrace is how long Lab.Close lets a program handle SIGTERM before it
// sends SIGKILL.
const StopGrace = 2 * time.Second

// Lab is a running lab: its hosts, their processes and the faults in force.
type Lab struct {
	id     string
	dir    string
	ownDir bool // dir is a temporary directory New made: Close removes it
	b      Backend
	topo   Topology
	hosts  []*Host
	byName map[string]*Host
	onEv   func(Event)
	lock   *os.File

	evMu sync.Mutex // keeps OnEvent calls in order

	mu     sync.Mutex
	faults []*fault // in force, oldest first
	procs  []Process
	nats   []*natRouter // NAT routers running (nat_queue.go)
	seq    int
	closed bool
	done   chan struct{} // closed by Close: stops watchers
	closeE error
	wg     sync.WaitGroup // exit watchers
}

// fault is one fault in force.
type fault struct {
	once sync.Once
	err  error
	undo Undo
}

// New validates the topology (nothing is created for an invalid one), then
// brings it up on b. On error everything made so far is removed.
func New(ctx context.Context, b Backend, t Topology, opts Options) (*Lab, error) {
	rt, err := t.Resolve()
	if err != nil {
		return nil, err
	}
	id := opts.RunID
	if id == "" {
		id = NewRunID()
	} else if !ValidRunID(id) {
		return nil, fmt.Errorf("netlab: bad run id %q (want %s and 1-12 of a-z 0-9)", id, Prefix)
	}
	lock, err := lockRun(id)
	if err != nil {
		return nil, err
	}
	dir := opts.Dir
	if dir == "" {
		dir, err = os.MkdirTemp("", id+"-")
		if err != nil {
			unlockRun(id, lock)
			return nil, fmt.Errorf("netlab: run directory: %w", err)
		}
	}
	for _, h := range rt.Hosts {
		if err := os.MkdirAll(filepath.Join(dir, "hosts", h.Name), 0o755); err != nil {
			unlockRun(id, lock)
			return nil, fmt.Errorf("netlab: host %s: directory: %w", h.Name, err)
		}
	}
	l := &Lab{id: id, dir: dir, ownDir: opts.Dir == "", b: b, topo: rt, byName: map[string]*Host{}, onEv: opts.OnEvent, lock: lock, done: make(chan struct{})}
	for _, hs := range rt.Hosts {
		h := &Host{lab: l, spec: hs}
		l.hosts = append(l.hosts, h)
		l.byName[hs.Name] = h
	}
	var raised []string
	sn, shared := b.(sharesNamespace)
	if !shared {
		raised = raiseNeighLimits(rt)
	}
	err = nil
	if shared {
		// The hosts live in this namespace: their addresses come from a
		// loopback block the backend holds, not from the topology.
		rt, err = sn.readdress(id, rt)
		l.topo = rt
		for i := range l.hosts {
			l.hosts[i].spec = rt.Hosts[i]
		}
	}
	cfg := Config{RunID: id, Dir: dir, Topology: rt, Binary: opts.Binary}
	if err == nil {
		err = b.Create(ctx, cfg)
	}
	if err != nil {
		derr := b.Destroy(context.WithoutCancel(ctx))
		unlockRun(id, lock)
		return nil, errors.Join(fmt.Errorf("netlab: up (%s backend, run %s): %w", b.Name(), id, err), derr)
	}
	for _, r := range raised {
		l.event("", "sysctl", r)
	}
	if err := l.startNATs(ctx); err != nil {
		derr := errors.Join(append(l.stopNATs(), b.Destroy(context.WithoutCancel(ctx)))...)
		unlockRun(id, lock)
		return nil, errors.Join(err, derr)
	}
	if err := l.impairTopology(ctx); err != nil {
		return nil, errors.Join(err, l.Close(context.WithoutCancel(ctx)))
	}
	l.event("", "up", fmt.Sprintf("run %s, %s backend, %d hosts, %d LANs", id, b.Name(), len(rt.Hosts), len(rt.LANs)))
	return l, nil
}

// NewRunID returns a fresh random run id (Prefix and 8 hex digits).
func NewRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return Prefix + hex.EncodeToString(b[:])
}

// ID is the lab's run id.
func (l *Lab) ID() string { return l.id }

// Dir is the lab's run directory.
func (l *Lab) Dir() string { return l.dir }

// Backend is the backend the lab runs on.
func (l *Lab) Backend() Backend { return l.b }

// Topology is the resolved topology (every NIC addressed).
func (l *Lab) Topology() Topology { return l.topo }

// Host returns a host by name, or nil.
func (l *Lab) Host(name string) *Host { return l.byName[name] }

// Hosts returns every host in topology order.
func (l *Lab) Hosts() []*Host { return slices.Clone(l.hosts) }

// event reports one lab event to OnEvent, in order.
func (l *Lab) event(host, kind, detail string) {
	if l.onEv == nil {
		return
	}
	l.evMu.Lock()
	defer l.evMu.Unlock()
	l.onEv(Event{Time: time.Now(), Host: host, Kind: kind, Detail: detail})
}

// addFault records a fault in force and returns its idempotent Undo, which
// also reports the undo event.
func (l *Lab) addFault(host, undoKind, detail string, undo Undo) Undo {
	f := &fault{}
	f.undo = func(ctx context.Context) error {
		f.once.Do(func() {
			f.err = undo(ctx)
			l.mu.Lock()
			if i := slices.Index(l.faults, f); i >= 0 {
				l.faults = slices.Delete(l.faults, i, i+1)
			}
			l.mu.Unlock()
			d := detail
			if f.err != nil {
				d += ": " + f.err.Error()
			}
			l.event(host, undoKind, d)
		})
		return f.err
	}
	l.mu.Lock()
	l.faults = append(l.faults, f)
	l.mu.Unlock()
	return f.undo
}

// nextSeq numbers fault tables.
func (l *Lab) nextSeq() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	return l.seq
}

// Close undoes every fault in force, stops every process and removes
// everything the lab made. It is safe to call more than once. Programs get
// StopGrace to handle SIGTERM (none if ctx is already done); removal goes on
// past ctx. The run directory is kept: it holds the evidence.
func (l *Lab) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.done
		return l.closeE
	}
	l.closed = true
	faults := slices.Clone(l.faults)
	procs := slices.Clone(l.procs)
	l.mu.Unlock()

	var errs []error
	for i := len(faults) - 1; i >= 0; i-- {
		if err := faults[i].undo(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	var wg sync.WaitGroup
	var emu sync.Mutex
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Stop(ctx, StopGrace); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		}()
	}
	wg.Wait()
	errs = append(errs, l.stopNATs()...)
	if err := l.b.Destroy(context.WithoutCancel(ctx)); err != nil {
		errs = append(errs, err)
	}
	l.wg.Wait()
	if l.ownDir && len(errs) == 0 {
		// Nobody asked to keep it (Options.Dir): the lab's own temporary
		// directory goes with the lab. After a failed close it stays, as
		// evidence.
		if err := os.RemoveAll(l.dir); err != nil {
			errs = append(errs, fmt.Errorf("netlab: close %s: run directory: %w", l.id, err))
		}
	}
	unlockRun(l.id, l.lock)
	l.event("", "down", "run "+l.id)
	l.closeE = errors.Join(errs...)
	close(l.done)
	return l.closeE
}

// Host is one host of a running lab.
type Host struct {
	lab  *Lab
	spec HostSpec
}

// Name is the host's name.
func (h *Host) Name() string { return h.spec.Name }

// Spec is the host's resolved specification.
func (h *Host) Spec() HostSpec { return h.spec }

// Addr is the host's address on its first LAN.
func (h *Host) Addr() netip.Addr { return h.spec.NICs[0].Addr }

// AddrOn is the host's address on a LAN (zero if it is not on it).
func (h *Host) AddrOn(lan string) netip.Addr {
	if n := h.spec.NICOn(lan); n != nil {
		return n.Addr
	}
	return netip.Addr{}
}

// LoopbackAddr is the address for services only the host's own programs
// should reach (an admin API): 127.0.0.1 in a host with a namespace of its
// own; on a backend whose hosts share one (local), the host's own
// address, so that hosts do not collide.
func (h *Host) LoopbackAddr() netip.Addr {
	if _, shared := h.lab.b.(sharesNamespace); shared {
		return h.Addr()
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// Addrs is every address of the host, in NIC order.
func (h *Host) Addrs() []netip.Addr {
	out := make([]netip.Addr, len(h.spec.NICs))
	for i, n := range h.spec.NICs {
		out[i] = n.Addr
	}
	return out
}

// Dir is the host's own directory as the lab sees it.
func (h *Host) Dir() string {
	out, _ := h.lab.b.Mount(h.spec.Name)
	return out
}

// Path maps a path under Dir to the path the host's programs see.
func (h *Host) Path(outside string) string {
	out, in := h.lab.b.Mount(h.spec.Name)
	rel, err := filepath.Rel(out, outside)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return outside
	}
	return filepath.Join(in, rel)
}

// Start runs a program in the host. The lab stops it on Close.
func (h *Host) Start(ctx context.Context, cmd Command) (Process, error) {
	l := h.lab
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("netlab: start on %s: lab is closed", h.Name())
	}
	p, err := l.b.Start(ctx, h.spec.Name, cmd)
	if err != nil {
		return nil, err
	}
	lp := &labProc{Process: p, h: h}
	l.mu.Lock()
	if l.closed { // Close began while the program started
		l.mu.Unlock()
		_ = p.Kill(ctx)
		return nil, fmt.Errorf("netlab: start on %s: lab is closed", h.Name())
	}
	l.procs = append(l.procs, lp)
	l.wg.Add(1)
	l.mu.Unlock()
	l.event(h.Name(), "start", fmt.Sprintf("pid %d: %s", p.Pid(), strings.Join(cmd.Argv, " ")))
	go func() {
		defer l.wg.Done()
		<-p.Done()
		err := p.Wait(context.Background())
		d := fmt.Sprintf("pid %d: exit 0", p.Pid())
		if err != nil {
			d = fmt.Sprintf("pid %d: %v", p.Pid(), err)
		}
		l.event(h.Name(), "exit", d)
	}()
	return lp, nil
}

// labProc reports stop and kill as lab events.
type labProc struct {
	Process
	h *Host
}

// Stop implements Process.
func (p *labProc) Stop(ctx context.Context, grace time.Duration) error {
	select {
	case <-p.Done():
	default:
		p.h.lab.event(p.h.Name(), "stop", fmt.Sprintf("pid %d", p.Pid()))
	}
	return p.Process.Stop(ctx, grace)
}

// Kill implements Process.
func (p *labProc) Kill(ctx context.Context) error {
	select {
	case <-p.Done():
	default:
		p.h.lab.event(p.h.Name(), "kill", fmt.Sprintf("pid %d", p.Pid()))
	}
	return p.Process.Kill(ctx)
}

// Do runs fn on an OS thread inside the host's network namespace; sockets
// fn creates belong to the host. On a backend whose hosts share the lab
// process's namespace (local) fn runs in place.
func (h *Host) Do(ctx context.Context, fn func() error) error {
	if _, shared := h.lab.b.(sharesNamespace); shared {
		return fn() // the host is this namespace
	}
	ns, err := h.lab.b.NetNS(ctx, h.spec.Name)
	if err != nil {
		return err
	}
	defer ns.Close()
	return inNS(ns, fn)
}

// Block selects inbound TCP connections to refuse.
type Block struct {
	// First and Last are the port range (0, 0 = every port).
	First, Last uint16
	// Reject answers with a TCP reset instead of dropping silently.
	Reject bool
}
