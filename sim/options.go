package sim

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/netlab/docker"
)

// Default role command templates. Placeholders: {bin} (the p2plab binary
// as hosts see it), {listen} (the server's IP:PORT), {listen_ip}, {port},
// {admin} (the server's admin IP:PORT, on the server host's loopback),
// {server} (the address clients dial), {user}, {name}, {control} (the
// client's control socket), {log} (its P2PInfo log), {files} (its
// directory for received files), {dir} (the host's directory),
// {heartbeat} and {misses}. Paths are as the program sees them.
const (
	DefaultServerCommand = "{bin} server --listen {listen} --admin {admin} --heartbeat {heartbeat} --misses {misses}"
	DefaultClientCommand = "{bin} client --server {server} --user {user} --name {name} --control {control} --log {log} --files {files} --heartbeat {heartbeat} --misses {misses}"
)

// Fixed ports of the server inside its own host.
const (
	ServerPort = 7000
	AdminPort  = 7001
)

// Backends this package knows.
const (
	BackendNetns  = "netns"
	BackendDocker = "docker"
)

// Options configure Start.
type Options struct {
	// Backend is "netns" (default) or "docker".
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
	// DefaultServerCommand); words are split on spaces.
	ServerCommand, ClientCommand string
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
	if o.ServerCommand == "" {
		o.ServerCommand = DefaultServerCommand
	}
	if o.ClientCommand == "" {
		o.ClientCommand = DefaultClientCommand
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 30 * time.Second
	}
}

// NewBackend returns a fresh backend by name. The docker backend is only
// returned when a Docker engine answers.
func NewBackend(ctx context.Context, name string) (netlab.Backend, error) {
	switch name {
	case "", BackendNetns:
		return netlab.NewNetns(), nil
	case BackendDocker:
		if err := docker.Available(ctx); err != nil {
			return nil, fmt.Errorf("sim: docker backend: %w", err)
		}
		return docker.New(), nil
	}
	return nil, fmt.Errorf("sim: unknown backend %q (want netns or docker)", name)
}

// expand fills a command template.
func expand(tmpl string, vars map[string]string) ([]string, error) {
	var out []string
	for _, w := range strings.Fields(tmpl) {
		var b strings.Builder
		for i := 0; i < len(w); {
			if w[i] == '{' {
				j := strings.IndexByte(w[i:], '}')
				if j > 0 {
					k := w[i+1 : i+j]
					v, ok := vars[k]
					if !ok {
						return nil, fmt.Errorf("sim: command template %q: unknown placeholder {%s}", tmpl, k)
					}
					b.WriteString(v)
					i += j + 1
					continue
				}
			}
			b.WriteByte(w[i])
			i++
		}
		out = append(out, b.String())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("sim: empty command template")
	}
	return out, nil
}
