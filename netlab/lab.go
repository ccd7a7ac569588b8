package netlab

// NOTE(skeleton): the signatures in this file are the contract the sim and
// docker work builds against. Bodies are filled in by the netlab work.

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

var errTODO = errors.New("netlab: not implemented yet")

// Undo reverts one fault. Calling it twice is harmless.
type Undo func(ctx context.Context) error

// Options tune New.
type Options struct {
	// RunID overrides the generated run id (it must start with Prefix).
	RunID string
	// Dir is the run directory (default: a new directory under os.TempDir).
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

// Lab is a running lab: its hosts, their processes and the faults in force.
type Lab struct{}

// New validates the topology (nothing is created for an invalid one), then
// brings it up on b. On error everything made so far is removed.
func New(ctx context.Context, b Backend, t Topology, opts Options) (*Lab, error) {
	return nil, errTODO
}

// ID is the lab's run id.
func (l *Lab) ID() string { return "" }

// Dir is the lab's run directory.
func (l *Lab) Dir() string { return "" }

// Backend is the backend the lab runs on.
func (l *Lab) Backend() Backend { return nil }

// Topology is the resolved topology (every NIC addressed).
func (l *Lab) Topology() Topology { return Topology{} }

// Host returns a host by name, or nil.
func (l *Lab) Host(name string) *Host { return nil }

// Hosts returns every host in topology order.
func (l *Lab) Hosts() []*Host { return nil }

// Close undoes every fault in force, stops every process and removes
// everything the lab made. It is safe to call more than once.
func (l *Lab) Close(ctx context.Context) error { return errTODO }

// Host is one host of a running lab.
type Host struct{}

// Name is the host's name.
func (h *Host) Name() string { return "" }

// Addr is the host's address on its first LAN.
func (h *Host) Addr() netip.Addr { return netip.Addr{} }

// AddrOn is the host's address on a LAN (zero if it is not on it).
func (h *Host) AddrOn(lan string) netip.Addr { return netip.Addr{} }

// Dir is the host's own directory as the lab sees it.
func (h *Host) Dir() string { return "" }

// Path maps a path under Dir to the path the host's programs see.
func (h *Host) Path(outside string) string { return "" }

// Start runs a program in the host.
func (h *Host) Start(ctx context.Context, cmd Command) (Process, error) { return nil, errTODO }

// Do runs fn on an OS thread inside the host's network namespace; sockets
// fn creates belong to the host.
func (h *Host) Do(ctx context.Context, fn func() error) error { return errTODO }

// Freeze suspends every process of the host; the Undo thaws them.
func (h *Host) Freeze(ctx context.Context) (Undo, error) { return nil, errTODO }

// Cut takes the host's links down (silent loss); the Undo restores them.
func (h *Host) Cut(ctx context.Context) (Undo, error) { return nil, errTODO }

// Block drops (or rejects with a TCP reset) new inbound TCP connections to
// the given ports of the host; established flows and the host's own
// outbound connections keep working.
func (h *Host) Block(ctx context.Context, b Block) (Undo, error) { return nil, errTODO }

// Block selects inbound TCP connections to refuse.
type Block struct {
	// First and Last are the port range (0, 0 = every port).
	First, Last uint16
	// Reject answers with a TCP reset instead of dropping silently.
	Reject bool
}

// Partition drops traffic between h and other: both ways, or with oneWay
// only packets from other to h.
func (h *Host) Partition(ctx context.Context, other *Host, oneWay bool) (Undo, error) {
	return nil, errTODO
}

// Loss drops percent (0-100) of the packets the host receives, at random.
func (h *Host) Loss(ctx context.Context, percent int) (Undo, error) { return nil, errTODO }

// Rate limits the host's outbound traffic to bitsPerSecond (tbf).
func (h *Host) Rate(ctx context.Context, bitsPerSecond uint64) (Undo, error) { return nil, errTODO }

// Capture writes the host's packets to a pcap file (a lab path) until undone.
func (h *Host) Capture(ctx context.Context, path string) (Undo, error) { return nil, errTODO }

// Clean removes what crashed labs left behind on this machine: namespaces,
// links, nft tables, containers, networks and images whose names or labels
// start with Prefix. It reports what it removed.
func Clean(ctx context.Context) ([]string, error) { return nil, errTODO }
