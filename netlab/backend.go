package netlab

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netns"
)

// Backend is a lab runtime: it makes and removes the hosts and LANs of one
// lab, runs programs in hosts, and hands out each host's network namespace
// so that Lab can apply the same netlink/nftables faults on every backend.
// A Backend value serves one lab.
type Backend interface {
	// Name is the name the backend registered under ("netns", "local",
	// "docker").
	Name() string
	// Create makes the LANs and hosts of a resolved topology (every NIC
	// has its address). On error it removes whatever it made.
	Create(ctx context.Context, cfg Config) error
	// Start runs a program in a host. Its stdout and stderr go to the
	// files named in cmd.
	Start(ctx context.Context, host string, cmd Command) (Process, error)
	// NetNS opens the host's network namespace; the caller closes it.
	NetNS(ctx context.Context, host string) (netns.NsHandle, error)
	// Freeze suspends every process of a host and returns once none of
	// their threads runs any more; Thaw resumes them.
	Freeze(ctx context.Context, host string) error
	Thaw(ctx context.Context, host string) error
	// Mount returns the host's own directory as the lab sees it (outside)
	// and as the host's programs see it (inside).
	Mount(host string) (outside, inside string)
	// Binary is the path, as programs in a host see it, of the binary given
	// in Config.Binary ("" if none was given).
	Binary() string
	// Destroy removes everything Create and Start made, stopping processes
	// first. It is safe to call more than once and after a failed Create.
	Destroy(ctx context.Context) error
}

// Config is what a Backend needs to create a lab.
type Config struct {
	// RunID names everything the lab makes (namespaces, links, tables,
	// containers, networks, images); it starts with Prefix.
	RunID string
	// Dir is the lab's run directory; host h's directory is Dir/hosts/h.
	Dir string
	// Topology is resolved: validated, every NIC addressed.
	Topology Topology
	// Binary is an optional path to a static p2plab-style binary to make
	// available in every host (the docker backend builds it into its image).
	Binary string
}

// Prefix starts every run id, and so every name netlab gives a namespace,
// link, nft table, container, network or image. Clean finds leftovers by it.
const Prefix = "p2pl"

// Command is a program to run in a host.
type Command struct {
	// Argv is the program and its arguments, as the host sees them.
	Argv []string
	// Env is added to a minimal environment (PATH, HOME).
	Env []string
	// Dir is the working directory as the host sees it ("" = its mount).
	Dir string
	// Stdout and Stderr are files outside the host (lab paths) that receive
	// the program's output; "" discards it.
	Stdout, Stderr string
	// Image, for the docker backend only, runs the program in this image
	// (which must already be present: nothing is pulled) instead of the
	// lab's own; an empty Argv then runs the image's own entrypoint and
	// command. The netns backend refuses a Command with an Image.
	Image string
}

// Process is a program running in a host.
type Process interface {
	// Pid is the process id as seen from the lab machine.
	Pid() int
	// Done is closed when the process has exited.
	Done() <-chan struct{}
	// Wait waits for the process to exit and returns its exit error.
	Wait(ctx context.Context) error
	// Signal sends a signal.
	Signal(sig os.Signal) error
	// Stop sends SIGTERM, waits up to grace, then SIGKILL, and reaps it.
	Stop(ctx context.Context, grace time.Duration) error
	// Kill sends SIGKILL and reaps it.
	Kill(ctx context.Context) error
}

// Factory makes a fresh Backend for one lab. It fails (with a reason a
// user can act on) when the runtime behind it is not available here.
type Factory func(ctx context.Context) (Backend, error)

// ErrUnknownBackend is returned (wrapped) by NewBackend for a name no
// backend registered.
var ErrUnknownBackend = errors.New("unknown backend")

var (
	registryMu sync.Mutex
	registry   = map[string]Factory{}
)

// Register makes a backend available by name, as database/sql drivers
// are: netlab registers "netns" and "local" itself; netlab/docker
// registers "docker" when a program imports it. It panics on an empty
// name, a nil factory or a name registered twice (a programming error).
func Register(name string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if name == "" || f == nil {
		panic("netlab: Register with an empty name or a nil factory")
	}
	if _, dup := registry[name]; dup {
		panic("netlab: backend " + name + " registered twice")
	}
	registry[name] = f
}

// Backends lists the registered backend names, sorted.
func Backends() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	return slices.Sorted(maps.Keys(registry))
}

// NewBackend returns a fresh backend of the registered name.
func NewBackend(ctx context.Context, name string) (Backend, error) {
	registryMu.Lock()
	f := registry[name]
	registryMu.Unlock()
	if f == nil {
		return nil, fmt.Errorf("netlab: backend %q: %w (registered: %s)", name, ErrUnknownBackend, strings.Join(Backends(), ", "))
	}
	b, err := f(ctx)
	if err != nil {
		return nil, fmt.Errorf("netlab: %s backend: %w", name, err)
	}
	return b, nil
}
