package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/p2plab/p2plab/netlab"
)

// logDrain bounds how long a finished program's output may take to reach
// its files.
const logDrain = 10 * time.Second

// ExitError is the exit error of a program that exited with a non-zero
// status. The engine reports 128+N for a program killed by signal N; Signal
// is then N (a program that itself exits with 128+N looks the same).
type ExitError struct {
	Code   int
	Signal syscall.Signal
}

func newExitError(code int) *ExitError {
	e := &ExitError{Code: code}
	if code > 128 && code < 128+65 {
		e.Signal = syscall.Signal(code - 128)
	}
	return e
}

// Error reads like os/exec's: "signal: killed" or "exit status 2".
func (e *ExitError) Error() string {
	if e.Signal != 0 {
		return "signal: " + e.Signal.String()
	}
	return "exit status " + strconv.Itoa(e.Code)
}

// process is a program running in its own container, which shares the
// host's network namespace (NetworkMode container:<host>).
type process struct {
	b    *Backend
	host string
	name string
	id   string
	pid  int

	done chan struct{}
	err  error // exit error, set before done is closed
}

// Start runs a program in a host: a new container of the run's image (or of
// cmd.Image, which must be present locally) that joins the host's network
// namespace and mount, with cmd.Argv as its entrypoint (with an Image and no
// Argv, the image's own). Its output streams into cmd.Stdout and cmd.Stderr.
func (b *Backend) Start(ctx context.Context, hostName string, cmd netlab.Command) (netlab.Process, error) {
	if len(cmd.Argv) == 0 && cmd.Image == "" {
		return nil, fmt.Errorf("docker: start in %s: empty argv", hostName)
	}
	h, err := b.lookup(hostName)
	if err != nil {
		return nil, err
	}
	stdout, stderr, closeOut, err := openOutputs(cmd)
	if err != nil {
		return nil, fmt.Errorf("docker: start in %s: %w", hostName, err)
	}
	b.mu.Lock()
	h.n++
	name := programName(b.cfg.RunID, hostName, h.n)
	outside := filepath.Join(b.cfg.Dir, "hosts", hostName)
	image := b.imageLocked()
	run := b.cfg.RunID
	b.mu.Unlock()
	if cmd.Image != "" {
		// A foreign image (an implementation under test): it must be
		// present already, since testcontainers would otherwise pull it.
		if _, err := b.p.Client().ImageInspect(ctx, cmd.Image); err != nil {
			closeOut()
			return nil, fmt.Errorf("docker: start in %s: image %s is not present locally (nothing is pulled; build or load it first): %w", hostName, cmd.Image, err)
		}
		image = cmd.Image
	}
	what := image
	if len(cmd.Argv) > 0 {
		what = cmd.Argv[0]
	}

	workdir := cmd.Dir
	env := cmd.Env // Docker adds the image's own environment
	if cmd.Image == "" {
		if workdir == "" {
			workdir = MountPath
		}
		env = append(baseEnv(), cmd.Env...)
	}
	req := testcontainers.ContainerRequest{
		Image:      image,
		Name:       name,
		Entrypoint: cmd.Argv, // nil with an Image: its own entrypoint
		Labels:     labels(run, "program", hostName, b.pid),
		ConfigModifier: func(c *container.Config) {
			if workdir != "" {
				c.WorkingDir = workdir
			}
			c.Env = env
		},
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.NetworkMode = container.NetworkMode("container:" + h.id)
			hc.Binds = []string{outside + ":" + MountPath}
		},
	}
	ctr, err := b.p.CreateContainer(ctx, req)
	var pr *process
	if ctr != nil && ctr.GetContainerID() != "" {
		// Tracked before err is checked: Destroy removes it either way.
		pr = &process{b: b, host: hostName, name: name, id: ctr.GetContainerID(), done: make(chan struct{})}
		b.mu.Lock()
		h.procs[pr.id] = pr
		b.mu.Unlock()
	}
	if err == nil {
		err = ctr.Start(ctx)
	}
	if err != nil {
		closeOut()
		if pr != nil {
			b.removeContainer(context.WithoutCancel(ctx), pr.id)
			b.forget(h, pr.id)
		}
		return nil, fmt.Errorf("docker: start %s in %s: %w", what, hostName, err)
	}
	cli := b.p.Client()
	if ins, err := cli.ContainerInspect(ctx, pr.id, client.ContainerInspectOptions{}); err == nil && ins.Container.State != nil {
		pr.pid = ins.Container.State.Pid
	}
	b.procs.Add(1)
	go pr.watch(h, stdout, stderr, closeOut)
	return pr, nil
}

// openOutputs opens the files a program's output goes to.
func openOutputs(cmd netlab.Command) (stdout, stderr io.Writer, closeAll func(), err error) {
	var files []*os.File
	closeAll = func() {
		for _, f := range files {
			f.Close()
		}
	}
	open := func(path string) (io.Writer, error) {
		if path == "" {
			return io.Discard, nil
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		return f, nil
	}
	if stdout, err = open(cmd.Stdout); err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	if cmd.Stderr == cmd.Stdout {
		return stdout, stdout, closeAll, nil
	}
	if stderr, err = open(cmd.Stderr); err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	return stdout, stderr, closeAll, nil
}

// watch streams the program's output into its files until it exits, then
// records its exit status, removes its container and closes done.
func (p *process) watch(h *host, stdout, stderr io.Writer, closeOut func()) {
	defer p.b.procs.Done()
	cli := p.b.p.Client()
	ctx := context.Background()

	logsDone := make(chan struct{})
	rc, lerr := cli.ContainerLogs(ctx, p.id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if lerr != nil {
		close(logsDone)
	} else {
		go func() {
			defer close(logsDone)
			_, _ = stdcopy.StdCopy(stdout, stderr, rc)
		}()
	}

	code := -1
	var werr error
	w := cli.ContainerWait(ctx, p.id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case res := <-w.Result:
		code = int(res.StatusCode)
		if res.Error != nil && res.Error.Message != "" {
			werr = errors.New(res.Error.Message)
		}
	case err := <-w.Error:
		werr = err
	}
	// Output must be complete before Wait returns.
	if rc != nil {
		t := time.NewTimer(logDrain)
		select {
		case <-logsDone:
		case <-t.C:
		}
		t.Stop()
		rc.Close() // ends a stalled copy
		<-logsDone
	}
	closeOut()
	switch {
	case werr != nil:
		p.err = fmt.Errorf("docker: wait %s: %w", p.name, werr)
	case code != 0:
		p.err = newExitError(code)
	}
	p.b.removeContainer(ctx, p.id)
	p.b.forget(h, p.id)
	close(p.done)
}

// Pid is the program's pid as the lab machine sees it (the container's init).
func (p *process) Pid() int { return p.pid }

// Done is closed once the program has exited and its output is written.
func (p *process) Done() <-chan struct{} { return p.done }

// Wait waits for the program to exit and returns nil for status 0, an
// *ExitError otherwise.
func (p *process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("docker: wait %s: %w", p.name, ctx.Err())
	}
}

// signalTimeout bounds Signal's engine call (Signal has no context); a
// loaded engine can take seconds to answer.
const signalTimeout = 60 * time.Second

// Signal sends sig to the program through the engine.
func (p *process) Signal(sig os.Signal) error {
	ctx, cancel := context.WithTimeout(context.Background(), signalTimeout)
	defer cancel()
	return p.signal(ctx, sig)
}

func (p *process) signal(ctx context.Context, sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("docker: signal %s: unsupported signal %v", p.name, sig)
	}
	select {
	case <-p.done:
		return fmt.Errorf("docker: signal %s: %w", p.name, os.ErrProcessDone)
	default:
	}
	_, err := p.b.p.Client().ContainerKill(ctx, p.id, client.ContainerKillOptions{Signal: strconv.Itoa(int(s))})
	if err != nil {
		// The engine answers conflict ("is not running") for a program
		// that has exited but is not removed yet.
		if cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) {
			return fmt.Errorf("docker: signal %s: %w", p.name, os.ErrProcessDone)
		}
		return fmt.Errorf("docker: signal %s: %w", p.name, err)
	}
	return nil
}

// Stop sends SIGTERM, waits up to grace, then SIGKILL, and waits for the
// exit. Stopping an exited program is not an error.
func (p *process) Stop(ctx context.Context, grace time.Duration) error {
	if err := p.signal(ctx, syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	case <-ctx.Done():
		return fmt.Errorf("docker: stop %s: %w", p.name, ctx.Err())
	}
	return p.Kill(ctx)
}

// Kill sends SIGKILL and waits for the exit.
func (p *process) Kill(ctx context.Context) error {
	if err := p.signal(ctx, syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("docker: kill %s: %w", p.name, ctx.Err())
	}
}

// forget drops a program from its host.
func (b *Backend) forget(h *host, id string) {
	b.mu.Lock()
	delete(h.procs, id)
	b.mu.Unlock()
}

// removeContainer force-removes a container; a missing one is fine.
func (b *Backend) removeContainer(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return removeContainer(ctx, b.p.Client(), id)
}

// removeContainer force-removes container id; a missing one is fine, and
// so is one whose removal is under way already (the engine answers
// conflict, "removal ... is already in progress"): it waits until that
// removal is done.
func removeContainer(ctx context.Context, cli client.APIClient, id string) error {
	_, err := cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	switch {
	case err == nil || cerrdefs.IsNotFound(err):
		return nil
	case !cerrdefs.IsConflict(err):
		return err
	}
	// Both channels are read by nobody else; the call is bounded by ctx
	// and sends on exactly one of them.
	w := cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionRemoved})
	select {
	case <-w.Result:
		return nil
	case werr := <-w.Error:
		if cerrdefs.IsNotFound(werr) {
			return nil
		}
		return errors.Join(err, werr)
	}
}

// isNotFound reports an engine "no such object" error.
func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }
