package sim

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// Default role command templates. The placeholders and the rules that
// fill them are Expand's.
const (
	DefaultServerCommand = "{bin} server --listen {listen} --admin {admin} --heartbeat {heartbeat} --misses {misses}"
	DefaultClientCommand = "{bin} client --server {server} --user {user} --name {name} --control {control} --log {log} --files {files} --heartbeat {heartbeat} --misses {misses}"
)

// Fixed ports of the server inside its own host.
const (
	ServerPort = 7000
	AdminPort  = 7001
)

// Backend names (see netlab.Register): netns and local are always there;
// docker is there when the program imports netlab/docker.
const (
	BackendNetns  = netlab.BackendNetns
	BackendDocker = netlab.BackendDocker
	BackendLocal  = netlab.BackendLocal
)

// Options configure Start.
type Options struct {
	// Backend is a registered backend name (default "netns"; "local"
	// needs no root; "docker" needs a program that imports netlab/docker).
	Backend string
	// NewBackend, if set, makes the backend instead (Backend is then only
	// its name in reports).
	NewBackend func(ctx context.Context) (netlab.Backend, error)
	// Topology is the lab network.
	Topology netlab.Topology
	// Server is the host running the server (default "server"); Clients
	// the hosts running a client each, user ID = host name (default:
	// every other non-router host).
	Server  string
	Clients []string
	// Heartbeat and Misses are given to every program (defaults 1s, 3).
	Heartbeat time.Duration
	Misses    int
	// Slack is the scheduling allowance TeardownBound adds (default
	// heartbeat/2; negative means none).
	Slack time.Duration
	// Binary is the p2plab binary the default commands run (it is made
	// available in every host). Default: this program's own executable.
	Binary string
	// ServerCommand and ClientCommand are role command templates (see
	// DefaultServerCommand and Expand).
	ServerCommand, ClientCommand string
	// ClientArgs are words every client's command gets: where its
	// template has a word that is exactly {client_args}, in its place;
	// where a word holds {client_args} with more around it, joined by
	// spaces there; else after the template's last word
	// (docs/scenarios.md, "Client arguments").
	ClientArgs []string
	// ServerImage and ClientImage, on the docker backend only, run the
	// role program in that image (present locally: nothing is pulled);
	// an empty command template then runs the image's own entrypoint.
	ServerImage, ClientImage string
	// Artifacts is this lab's artifacts folder (created; default: a new
	// temporary directory).
	Artifacts string
	// Capture writes a pcap of every host to the artifacts.
	Capture bool
	// Manual leaves the programs to the caller: Start brings up the lab
	// only. Otherwise Start starts the server, then every client, and
	// waits until each is online.
	Manual bool
	// StartTimeout bounds the start of one program (default 30s: a loaded
	// machine can be slow to schedule a new process).
	StartTimeout time.Duration
	// Progress receives one line per thing the lab does (nil: silent).
	Progress io.Writer
}

func (o *Options) defaults() {
	if o.Backend == "" {
		o.Backend = BackendNetns
	}
	if o.Server == "" {
		o.Server = "server"
	}
	if o.Clients == nil {
		for _, h := range o.Topology.Hosts {
			if !h.Router && h.Name != o.Server {
				o.Clients = append(o.Clients, h.Name)
			}
		}
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Misses == 0 {
		o.Misses = DefaultMisses
	}
	switch {
	case o.Slack == 0:
		o.Slack = o.Heartbeat / 2
	case o.Slack < 0:
		o.Slack = 0
	}
	// With an image an empty template runs the image's own entrypoint.
	if o.ServerCommand == "" && o.ServerImage == "" {
		o.ServerCommand = DefaultServerCommand
	}
	if o.ClientCommand == "" && o.ClientImage == "" {
		o.ClientCommand = DefaultClientCommand
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 30 * time.Second
	}
}

// NewBackend returns a fresh backend by its registered name ("" is netns).
func NewBackend(ctx context.Context, name string) (netlab.Backend, error) {
	if name == "" {
		name = BackendNetns
	}
	b, err := netlab.NewBackend(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	return b, nil
}

// checkTemplates refuses, before anything starts, a role template that
// does not expand or lacks what the lab drives the role through.
func (o *Options) checkTemplates() error {
	if o.ServerImage == "" || o.ServerCommand != "" {
		if err := CheckTemplate(o.ServerCommand, ServerNeeds...); err != nil {
			return fmt.Errorf("server command: %w", err)
		}
	}
	if o.ClientImage == "" || o.ClientCommand != "" {
		if err := CheckTemplate(o.ClientCommand, ClientNeeds...); err != nil {
			return fmt.Errorf("client command: %w", err)
		}
	}
	return nil
}
