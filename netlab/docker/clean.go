package docker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"syscall"

	"github.com/moby/moby/client"
)

// Clean removes the containers, networks and images of crashed labs: those
// labelled with a run id (LabelRun) whose lab process (LabelPID) is gone.
// Objects of labs still running on this machine are left alone. It reports
// what it removed, as "container NAME", "network NAME" or "image TAG".
func Clean(ctx context.Context) ([]string, error) {
	p, err := newProvider(ctx)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return sweep(ctx, p.Client(), "", true)
}

// CleanRun removes every container, network and image labelled with runID,
// whether or not its lab is still running.
func CleanRun(ctx context.Context, runID string) ([]string, error) {
	if runID == "" {
		return nil, errors.New("docker: clean: empty run id")
	}
	p, err := newProvider(ctx)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return sweep(ctx, p.Client(), runID, false)
}

// sweep removes what carries LabelRun (=runID when given): containers, then
// networks, then images. With onlyDead it skips objects whose lab process
// is alive.
func sweep(ctx context.Context, cli client.APIClient, runID string, onlyDead bool) ([]string, error) {
	filter := LabelRun
	if runID != "" {
		filter += "=" + runID
	}
	keep := func(l map[string]string) bool {
		if !onlyDead {
			return false
		}
		return alive(l[LabelPID])
	}
	var removed []string
	var errs []error

	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", filter)})
	if err != nil {
		return nil, fmt.Errorf("docker: clean: list containers: %w", err)
	}
	// Programs before the host containers whose namespace they share.
	for _, role := range []string{"program", ""} {
		for _, c := range cs.Items {
			if keep(c.Labels) || (role == "program") != (c.Labels[LabelRole] == "program") {
				continue
			}
			name := c.ID[:12]
			if len(c.Names) > 0 {
				name = c.Names[0][1:]
			}
			if err := removeContainer(ctx, cli, c.ID); err != nil {
				errs = append(errs, fmt.Errorf("docker: clean: container %s: %w", name, err))
				continue
			}
			removed = append(removed, "container "+name)
		}
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("label", filter)})
	if err != nil {
		errs = append(errs, fmt.Errorf("docker: clean: list networks: %w", err))
	} else {
		for _, n := range ns.Items {
			if keep(n.Labels) {
				continue
			}
			if _, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("docker: clean: network %s: %w", n.Name, err))
				continue
			}
			removed = append(removed, "network "+n.Name)
		}
	}
	is, err := cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("label", filter)})
	if err != nil {
		errs = append(errs, fmt.Errorf("docker: clean: list images: %w", err))
	} else {
		for _, im := range is.Items {
			if keep(im.Labels) {
				continue
			}
			name := im.ID
			if len(im.RepoTags) > 0 {
				name = im.RepoTags[0]
			}
			if _, err := cli.ImageRemove(ctx, im.ID, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("docker: clean: image %s: %w", name, err))
				continue
			}
			removed = append(removed, "image "+name)
		}
	}
	return removed, errors.Join(errs...)
}

// alive reports whether the lab process with this pid (a label value) still
// runs on this machine. An unreadable pid counts as dead.
func alive(pid string) bool {
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		return false
	}
	err = syscall.Kill(n, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
