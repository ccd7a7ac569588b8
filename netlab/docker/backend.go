package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/vishvananda/netns"
	"golang.org/x/sync/errgroup"

	"github.com/p2plab/p2plab/netlab"
)

// parallel bounds how many containers are created or removed at once.
const parallel = 4

// Backend runs a lab on the Docker engine. Make one with New; one value
// serves one lab.
type Backend struct {
	pid int // the lab's process id, put on every object (LabelPID)

	mu        sync.Mutex
	cfg       netlab.Config
	p         *testcontainers.DockerProvider
	image     string           // image tag built for this lab, "" until built
	shared    string           // a shared image's tag (WithImage): not built, not removed
	networks  []string         // network ids made
	hosts     map[string]*host // by host name
	destroyed bool
	procs     sync.WaitGroup // waiter goroutines of programs
}

// host is one lab host: an "idle" container that holds the network
// namespace, plus one container per program started in it.
type host struct {
	name   string
	id     string // the idle container
	pid    int    // its init pid
	n      int    // programs started so far (names their containers)
	procs  map[string]*process
	frozen []string // containers paused by Freeze
}

var _ netlab.Backend = (*Backend)(nil)

// New returns a docker Backend. It disables Ryuk for testcontainers
// (TESTCONTAINERS_RYUK_DISABLED=true) unless the variable is already set.
func New() *Backend {
	ensureEnv()
	return &Backend{pid: os.Getpid(), hosts: map[string]*host{}}
}

// Name is "docker".
func (b *Backend) Name() string { return netlab.BackendDocker }

// Binary is the path of the p2plab binary inside every container, or "" if
// Config.Binary was empty.
func (b *Backend) Binary() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cfg.Binary == "" {
		return ""
	}
	return BinaryPath
}

// Mount returns the host's directory on the lab machine (Config.Dir/hosts/
// host) and where it is bind-mounted in the host's containers.
func (b *Backend) Mount(host string) (outside, inside string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return filepath.Join(b.cfg.Dir, "hosts", host), MountPath
}

// Create builds the run's image, makes one internal network per LAN and
// starts one container per host holding its namespace and addresses. On
// error it removes whatever it made.
func (b *Backend) Create(ctx context.Context, cfg netlab.Config) (err error) {
	if cfg.RunID == "" || cfg.Dir == "" {
		return errors.New("docker: create: RunID and Dir are required")
	}
	if cfg.Binary == "" {
		return errors.New("docker: create: Config.Binary is required (a static p2plab build, see docker.BuildBinary): it holds each host's namespace")
	}
	topo, err := cfg.Topology.Resolve()
	if err != nil {
		return fmt.Errorf("docker: create: %w", err)
	}
	cfg.Topology = topo
	b.mu.Lock()
	if b.p != nil || b.destroyed {
		b.mu.Unlock()
		return errors.New("docker: create: a Backend serves one lab")
	}
	b.cfg = cfg
	b.mu.Unlock()
	defer func() {
		if err != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), destroyTimeout)
			defer cancel()
			if derr := b.Destroy(dctx); derr != nil {
				err = errors.Join(err, derr)
			}
		}
	}()

	p, err := newProvider(ctx)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.p = p
	b.mu.Unlock()

	for _, h := range cfg.Topology.Hosts {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, "hosts", h.Name), 0o755); err != nil {
			return fmt.Errorf("docker: create: %w", err)
		}
	}
	b.mu.Lock()
	shared := b.shared
	b.mu.Unlock()
	if shared == "" {
		tag, err := buildImage(ctx, p, cfg.RunID, cfg.Binary, b.pid)
		if tag != "" || err == nil {
			b.mu.Lock()
			b.image = imageRef(cfg.RunID)
			b.mu.Unlock()
		}
		if err != nil {
			return err
		}
	}
	for _, lan := range cfg.Topology.LANs {
		if err := b.createNetwork(ctx, lan); err != nil {
			return err
		}
	}
	return forEach(ctx, len(cfg.Topology.Hosts), func(i int) error {
		return b.createHost(ctx, cfg.Topology.Hosts[i])
	})
}

// forEach runs fn(0..n-1) with at most parallel calls at once and returns
// every error; once ctx is done it starts no more.
func forEach(ctx context.Context, n int, fn func(i int) error) error {
	var g errgroup.Group
	g.SetLimit(parallel)
	errs := make([]error, n)
	for i := range n {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		g.Go(func() error { errs[i] = fn(i); return nil })
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

// baseEnv is the minimal environment of every container.
func baseEnv() []string {
	return []string{"PATH=/", "HOME=" + MountPath}
}

// lookup returns a created host.
func (b *Backend) lookup(name string) (*host, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.hosts[name]
	if h == nil || h.pid == 0 {
		return nil, fmt.Errorf("docker: no host %q", name)
	}
	if b.destroyed {
		return nil, errors.New("docker: lab destroyed")
	}
	return h, nil
}

// NetNS opens the network namespace of a host (the one its idle container
// holds and every program of the host joins). It needs root.
func (b *Backend) NetNS(ctx context.Context, name string) (netns.NsHandle, error) {
	h, err := b.lookup(name)
	if err != nil {
		return netns.None(), err
	}
	ns, err := netns.GetFromPid(h.pid)
	if err != nil {
		return netns.None(), fmt.Errorf("docker: netns of %s (pid %d): %w", name, h.pid, err)
	}
	return ns, nil
}

// Freeze pauses every container of a host (cgroup freezer, via the engine).
func (b *Backend) Freeze(ctx context.Context, name string) error {
	h, err := b.lookup(name)
	if err != nil {
		return err
	}
	b.mu.Lock()
	ids := []string{h.id}
	for _, p := range h.procs {
		ids = append(ids, p.id)
	}
	b.mu.Unlock()
	// All at once: on a loaded engine each pause takes a while, and the
	// host should stop as one.
	ok := make([]bool, len(ids))
	errs := make([]error, len(ids))
	ferr := forEach(ctx, len(ids), func(i int) error {
		if _, err := b.p.Client().ContainerPause(ctx, ids[i], client.ContainerPauseOptions{}); err != nil {
			// A program that just exited cannot be paused: only the
			// host's own container must be.
			if i == 0 {
				errs[i] = err
			}
			return nil
		}
		ok[i] = true
		return nil
	})
	var paused []string
	for i, id := range ids {
		if ok[i] {
			paused = append(paused, id)
		}
	}
	b.mu.Lock()
	h.frozen = append(h.frozen, paused...)
	b.mu.Unlock()
	if err := errors.Join(append(errs, ferr)...); err != nil {
		return fmt.Errorf("docker: freeze %s: %w", name, err)
	}
	return nil
}

// Thaw unpauses the containers Freeze paused.
func (b *Backend) Thaw(ctx context.Context, name string) error {
	h, err := b.lookup(name)
	if err != nil {
		return err
	}
	b.mu.Lock()
	ids := h.frozen
	h.frozen = nil
	b.mu.Unlock()
	errs := make([]error, len(ids))
	ferr := forEach(ctx, len(ids), func(i int) error {
		if _, err := b.p.Client().ContainerUnpause(ctx, ids[i], client.ContainerUnpauseOptions{}); err != nil && !isNotFound(err) {
			errs[i] = err
		}
		return nil
	})
	if err := errors.Join(append(errs, ferr)...); err != nil {
		return fmt.Errorf("docker: thaw %s: %w", name, err)
	}
	return nil
}

// init registers the backend as "docker": a program that imports this
// package (a blank import will do) can name it in netlab.NewBackend. The
// factory fails when no Docker engine answers.
func init() {
	netlab.Register(netlab.BackendDocker, func(ctx context.Context) (netlab.Backend, error) {
		if err := Available(ctx); err != nil {
			return nil, err
		}
		return New(), nil
	})
}
