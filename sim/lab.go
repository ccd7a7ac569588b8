package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// Lab is a running lab with a server host and client hosts.
type Lab struct {
	opts      Options
	nl        *netlab.Lab
	artifacts string
	tl        *timeline

	ctx    context.Context // lives until Close: owns the event followers
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	server  *Server
	clients map[string]*Client
	undos   map[string][]netlab.Undo
	closed  bool
}

// Start brings a lab up on the chosen backend and, unless opts.Manual,
// starts the server and every client and waits until all are online. On
// error everything made so far is removed, but the artifacts stay.
func Start(ctx context.Context, opts Options) (*Lab, error) {
	opts.defaults()
	if opts.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("sim: find the p2plab binary: %w", err)
		}
		opts.Binary = exe
	}
	if err := opts.checkTemplates(); err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(opts.Topology.Hosts, func(h netlab.HostSpec) bool { return h.Name == opts.Server }) {
		return nil, fmt.Errorf("sim: no host %q for the server", opts.Server)
	}
	art := opts.Artifacts
	if art == "" {
		d, err := os.MkdirTemp("", "p2plab-artifacts-")
		if err != nil {
			return nil, fmt.Errorf("sim: artifacts: %w", err)
		}
		art = d
	}
	art, _ = filepath.Abs(art)
	if err := os.MkdirAll(art, 0o755); err != nil {
		return nil, fmt.Errorf("sim: artifacts: %w", err)
	}
	tl, err := newTimeline(filepath.Join(art, "timeline.jsonl"))
	if err != nil {
		return nil, err
	}
	l := &Lab{opts: opts, artifacts: art, tl: tl, clients: map[string]*Client{}, undos: map[string][]netlab.Undo{}}
	l.ctx, l.cancel = context.WithCancel(context.WithoutCancel(ctx))

	var b netlab.Backend
	if opts.NewBackend != nil {
		b, err = opts.NewBackend(ctx)
	} else {
		b, err = NewBackend(ctx, opts.Backend)
	}
	if err != nil {
		l.cancel()
		tl.close()
		return nil, err
	}
	l.progress("lab: bringing up %d hosts on %s", len(opts.Topology.Hosts), b.Name())
	nl, err := netlab.New(ctx, b, opts.Topology, netlab.Options{
		Binary: opts.Binary,
		OnEvent: func(e netlab.Event) {
			l.tl.add(TimelineEntry{Time: e.Time, Kind: "lab", Host: e.Host, Detail: e.Kind + " " + e.Detail})
		},
	})
	if err != nil {
		l.cancel()
		tl.close()
		return nil, fmt.Errorf("sim: lab up on %s: %w", b.Name(), err)
	}
	l.nl = nl
	l.note("lab %s up in %s (backend %s)", nl.ID(), nl.Dir(), b.Name())
	for _, c := range opts.Clients {
		if nl.Host(c) == nil {
			l.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("sim: no host %q for client %s", c, c)
		}
		l.clients[c] = &Client{lab: l, user: c, host: nl.Host(c)}
	}
	l.server = &Server{lab: l, host: nl.Host(opts.Server)}
	if opts.Capture {
		os.MkdirAll(filepath.Join(art, "pcap"), 0o755)
		for _, h := range nl.Hosts() {
			undo, err := h.Capture(ctx, filepath.Join(art, "pcap", h.Name()+".pcap"))
			if err != nil {
				l.note("capture %s: %v", h.Name(), err)
				continue
			}
			l.addUndo("capture/"+h.Name(), undo)
		}
	}
	if !opts.Manual {
		if err := l.StartAll(ctx); err != nil {
			l.Close(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	return l, nil
}

// StartAll starts the server, then every client, each waiting until ready.
func (l *Lab) StartAll(ctx context.Context) error {
	if err := l.server.Start(ctx); err != nil {
		return err
	}
	for _, c := range l.opts.Clients {
		if err := l.clients[c].Start(ctx); err != nil {
			return err
		}
	}
	return nil
}

// ID is the lab's run id (what `p2plab clean` looks for).
func (l *Lab) ID() string { return l.nl.ID() }

// Artifacts is the lab's artifacts folder.
func (l *Lab) Artifacts() string { return l.artifacts }

// Options returns the options the lab runs with (defaults filled in).
func (l *Lab) Options() Options { return l.opts }

// Net is the underlying netlab lab.
func (l *Lab) Net() *netlab.Lab { return l.nl }

// Host returns a lab host by name (nil if none) for faults.
func (l *Lab) Host(name string) *netlab.Host { return l.nl.Host(name) }

// Server returns the server handle.
func (l *Lab) Server() *Server { return l.server }

// Client returns the client handle of a user (nil if it is not a client).
func (l *Lab) Client(user string) *Client {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.clients[user]
}

// Clients returns every client handle, in Options.Clients order.
func (l *Lab) Clients() []*Client {
	out := make([]*Client, 0, len(l.opts.Clients))
	for _, u := range l.opts.Clients {
		out = append(out, l.Client(u))
	}
	return out
}

// Teardown is heartbeat x (misses+1): how long a dead peer may take to be
// noticed and its channel closed.
func (l *Lab) Teardown() time.Duration {
	return l.opts.Heartbeat * time.Duration(l.opts.Misses+1)
}

// TeardownBound is Teardown plus the scheduling slack (Options.Slack): the
// deadline specs hold teardown events to, measured by the events' own
// timestamps from the fault.
func (l *Lab) TeardownBound() time.Duration { return l.Teardown() + l.opts.Slack }

// Note writes a free-form line to the timeline.
func (l *Lab) Note(format string, args ...any) { l.note(format, args...) }

func (l *Lab) note(format string, args ...any) {
	l.tl.add(TimelineEntry{Kind: "note", Detail: fmt.Sprintf(format, args...)})
}

func (l *Lab) progress(format string, args ...any) {
	if l.opts.Progress != nil {
		fmt.Fprintf(l.opts.Progress, format+"\n", args...)
	}
}

func (l *Lab) addUndo(key string, u netlab.Undo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.undos[key] = append(l.undos[key], u)
}

// undo runs and forgets the undos under key; it reports whether any existed.
func (l *Lab) undo(ctx context.Context, key string) (bool, error) {
	l.mu.Lock()
	us := l.undos[key]
	delete(l.undos, key)
	l.mu.Unlock()
	var errs []error
	for i := len(us) - 1; i >= 0; i-- {
		errs = append(errs, us[i](ctx))
	}
	return len(us) > 0, errors.Join(errs...)
}

// Mark is a point in a lab's history: a time and, per client, how many
// events had been seen. Expectations look at what happened after a mark.
type Mark struct {
	Time   time.Time
	events map[string]int
	name   string // what the mark is, for messages ("the last action")
}

// Mark records now.
func (l *Lab) Mark() Mark {
	m := Mark{Time: time.Now(), events: map[string]int{}}
	for _, c := range l.Clients() {
		m.events[c.user] = c.eventCount()
	}
	return m
}

// Close saves the final artifacts (stats, logs, channels, events), undoes
// every fault, stops every program and removes the lab. Safe to call twice.
func (l *Lab) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	l.SaveArtifacts(ctx)
	var errs []error
	l.mu.Lock()
	keys := make([]string, 0, len(l.undos))
	for k := range l.undos {
		keys = append(keys, k)
	}
	l.mu.Unlock()
	for _, k := range keys {
		if _, err := l.undo(ctx, k); err != nil {
			errs = append(errs, err)
		}
	}
	if l.nl != nil {
		if err := l.nl.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sim: close lab: %w", err))
		}
	}
	l.cancel()
	l.wg.Wait()
	l.note("lab closed")
	if err := l.tl.close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Abandon stops the lab's own goroutines and saves the artifacts but leaves
// the lab (namespaces, processes) up for inspection; `p2plab clean` removes
// it later.
func (l *Lab) Abandon(ctx context.Context) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()
	l.SaveArtifacts(ctx)
	l.cancel()
	l.wg.Wait()
	l.note("lab %s left up (keep)", l.nl.ID())
	l.tl.close()
}

// SaveArtifacts writes the server's stats and every client's P2PInfo log,
// channels and events into the artifacts folder. Errors are noted, not
// returned: artifacts are best effort.
func (l *Lab) SaveArtifacts(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if l.server != nil && l.server.Running() {
		if st, err := l.server.Stats(ctx); err == nil {
			writeJSON(filepath.Join(l.artifacts, "server", "stats.json"), st)
		} else {
			l.note("save stats: %v", err)
		}
	}
	for _, c := range l.Clients() {
		dir := filepath.Join(l.artifacts, c.user)
		os.MkdirAll(dir, 0o755)
		if text, err := c.LogText(ctx); err == nil {
			os.WriteFile(filepath.Join(dir, "p2pinfo.log"), []byte(text), 0o644)
		}
		if c.Running() {
			cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
			if chs, err := c.Channels(cctx); err == nil {
				writeJSON(filepath.Join(dir, "channels.json"), chs)
			}
			ccancel()
		}
		writeJSON(filepath.Join(dir, "events.json"), c.Events(Mark{}))
	}
	l.tl.flush()
}

func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func (l *Lab) vars(h *netlab.Host) map[string]string {
	srv := netip.AddrPortFrom(l.server.host.Addr(), ServerPort)
	return map[string]string{
		"bin":       l.nl.Backend().Binary(),
		"listen":    srv.String(),
		"listen_ip": srv.Addr().String(),
		"port":      strconv.Itoa(ServerPort),
		"admin":     l.server.adminAddr().String(),
		"server":    srv.String(),
		"heartbeat": l.opts.Heartbeat.String(),
		"misses":    strconv.Itoa(l.opts.Misses),
		"dir":       h.Path(h.Dir()),
	}
}
