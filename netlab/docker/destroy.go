package docker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/moby/moby/client"
)

// destroyTimeout bounds the clean-up after a failed Create.
const destroyTimeout = 2 * time.Minute

// Destroy removes every container (programs first), network and the image
// of the lab, then sweeps the engine for anything else labelled with the
// run id (e.g. left by a Create that failed half-way), and closes the
// lab's connections to the engine. It is safe to call more than once and
// after a failed Create.
func (b *Backend) Destroy(ctx context.Context) error {
	b.mu.Lock()
	b.destroyed = true
	p := b.p
	run := b.cfg.RunID
	var programs, hosts []string
	for _, h := range b.hosts {
		for id := range h.procs {
			programs = append(programs, id)
		}
		hosts = append(hosts, h.id)
	}
	networks := b.networks
	b.networks = nil
	image := b.image
	b.image = ""
	b.mu.Unlock()
	if p == nil {
		return nil // Create never reached the engine
	}
	var errs []error
	// Programs first, so that each exits and its watcher finishes.
	if err := b.removeAll(ctx, programs); err != nil {
		errs = append(errs, err)
	}
	waited := make(chan struct{})
	go func() { b.procs.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("docker: destroy: programs still exiting: %w", ctx.Err()))
	}
	if err := b.removeAll(ctx, hosts); err != nil {
		errs = append(errs, err)
	}
	cli := p.Client()
	for _, id := range networks {
		if _, err := cli.NetworkRemove(ctx, id, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("docker: remove network %s: %w", id, err))
		}
	}
	if image != "" {
		if _, err := cli.ImageRemove(ctx, image, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("docker: remove image %s: %w", image, err))
		}
	}
	if run != "" {
		if _, err := sweep(ctx, cli, run, false); err != nil {
			errs = append(errs, err)
		}
	}
	// Last: the provider's idle connections (and their goroutines) go. A
	// later call on the Backend still works, on a new connection.
	if err := p.Close(); err != nil {
		errs = append(errs, fmt.Errorf("docker: close the engine client: %w", err))
	}
	return errors.Join(errs...)
}

// removeAll force-removes containers, a few at a time.
func (b *Backend) removeAll(ctx context.Context, ids []string) error {
	return forEach(ctx, len(ids), func(i int) error {
		if err := b.removeContainer(ctx, ids[i]); err != nil {
			return fmt.Errorf("docker: remove container %.12s: %w", ids[i], err)
		}
		return nil
	})
}
