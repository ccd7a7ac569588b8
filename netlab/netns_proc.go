package netlab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Start implements Backend: the program is started from a locked thread
// inside the host's namespace, in its own process group (and the host's
// cgroup when there is one), and dies with the lab process (SIGKILL on
// parent death).
func (b *netnsBackend) Start(ctx context.Context, host string, c Command) (Process, error) {
	if c.Image != "" {
		return nil, fmt.Errorf("netlab: netns: start on %s: image %q: images need the docker backend", host, c.Image)
	}
	if len(c.Argv) == 0 {
		return nil, fmt.Errorf("netlab: netns: start on %s: empty argv", host)
	}
	b.mu.Lock()
	h := b.hosts[host]
	b.mu.Unlock()
	if h == nil {
		return nil, fmt.Errorf("netlab: netns: start: unknown host %q", host)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("netlab: netns: start on %s: %w", host, err)
	}
	cg, err := b.hostCgroup(h)
	if err != nil {
		return nil, fmt.Errorf("netlab: netns: start on %s: %w", host, err)
	}
	dir, _ := b.Mount(host)
	cmd, closeFiles, err := childCommand(c, dir)
	if err != nil {
		return nil, fmt.Errorf("netlab: netns: start on %s: %w", host, err)
	}
	var cgfd = -1
	if cg != "" && b.cg.v2 {
		if fd, err := unix.Open(cg, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			cgfd = fd
			cmd.SysProcAttr.UseCgroupFD = true
			cmd.SysProcAttr.CgroupFD = fd
		}
	}
	err = inNS(h.ns, cmd.Start)
	if cgfd >= 0 {
		unix.Close(cgfd)
		if err != nil && cmd.Process == nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			// clone3 into a cgroup can be refused (seccomp, old kernel):
			// start plainly and move the process after. An exec.Cmd
			// cannot be started twice: make it again. (A missing or
			// forbidden program is not a refusal: report it as it is.)
			closeFiles()
			var retry *exec.Cmd
			if retry, closeFiles, err = childCommand(c, dir); err == nil {
				cmd = retry
				if err = inNS(h.ns, cmd.Start); err == nil {
					_ = b.cg.add(cg, cmd.Process.Pid)
				}
			} else {
				closeFiles = func() {}
			}
		}
	}
	closeFiles() // the child has its own copies
	if err != nil {
		return nil, fmt.Errorf("netlab: netns: start %s on %s: %w", c.Argv[0], host, err)
	}
	if cg != "" && !b.cg.v2 {
		_ = b.cg.add(cg, cmd.Process.Pid)
	}
	return track(&b.mu, &b.procs, cmd, host), nil
}

// track watches a started program of host and adds it to procs (under mu).
func track(mu *sync.Mutex, procs *[]*nsProc, cmd *exec.Cmd, host string) *nsProc {
	p := &nsProc{cmd: cmd, host: host, done: make(chan struct{})}
	go p.wait()
	mu.Lock()
	*procs = append(*procs, p)
	mu.Unlock()
	return p
}

// hostCgroup returns the host's cgroup, making it on first use ("" when no
// freezer cgroup can be made).
func (b *netnsBackend) hostCgroup(h *nsHost) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if h.cgroup != "" || !b.cg.ok() {
		return h.cgroup, nil
	}
	d, err := b.cg.create(h.nsName)
	if err != nil {
		return "", err
	}
	h.cgroup = d
	return d, nil
}

// Freeze implements Backend: the cgroup freezer when there is one, else
// SIGSTOP to the process group of every program of the host.
func (b *netnsBackend) Freeze(ctx context.Context, host string) error {
	return b.freeze(ctx, host, true)
}

// Thaw implements Backend.
func (b *netnsBackend) Thaw(ctx context.Context, host string) error {
	return b.freeze(ctx, host, false)
}

func (b *netnsBackend) freeze(ctx context.Context, host string, on bool) error {
	op := map[bool]string{true: "freeze", false: "thaw"}[on]
	b.mu.Lock()
	h := b.hosts[host]
	b.mu.Unlock()
	if h == nil {
		return fmt.Errorf("netlab: netns: %s: unknown host %q", op, host)
	}
	cg, err := b.hostCgroup(h)
	if err != nil {
		return fmt.Errorf("netlab: netns: %s %s: %w", op, host, err)
	}
	if cg != "" {
		if on {
			err = b.cg.freeze(ctx, cg)
		} else {
			err = b.cg.thaw(cg)
		}
		if err != nil {
			return fmt.Errorf("netlab: netns: %s %s: %w", op, host, err)
		}
		return nil
	}
	sig := map[bool]syscall.Signal{true: syscall.SIGSTOP, false: syscall.SIGCONT}[on]
	if err := signalHost(ctx, &b.mu, &b.procs, host, sig); err != nil {
		return fmt.Errorf("netlab: netns: %s: %w", op, err)
	}
	return nil
}

// childCommand makes the exec.Cmd of a host program: argv, a minimal
// environment (PATH, HOME = the host's directory) plus c.Env, the working
// directory (default dir), its own process group, SIGKILL on the lab
// process's death, and stdout/stderr appended to the files c names. The
// caller starts it, then calls closeFiles (the child has its own copies).
func childCommand(c Command, dir string) (cmd *exec.Cmd, closeFiles func(), err error) {
	if len(c.Argv) == 0 {
		return nil, nil, fmt.Errorf("empty argv")
	}
	cmd = exec.Command(c.Argv[0], c.Argv[1:]...)
	cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dir}, c.Env...)
	cmd.Dir = c.Dir
	if cmd.Dir == "" {
		cmd.Dir = dir
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var files []*os.File
	closeFiles = func() {
		for _, f := range files {
			f.Close()
		}
	}
	open := func(path string) (*os.File, error) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err == nil {
			files = append(files, f)
		}
		return f, err
	}
	if c.Stdout != "" {
		f, err := open(c.Stdout)
		if err != nil {
			closeFiles()
			return nil, nil, err
		}
		cmd.Stdout = f
	}
	if c.Stderr != "" {
		if c.Stderr == c.Stdout {
			cmd.Stderr = cmd.Stdout
		} else {
			f, err := open(c.Stderr)
			if err != nil {
				closeFiles()
				return nil, nil, err
			}
			cmd.Stderr = f
		}
	}
	return cmd, closeFiles, nil
}

// signalHost sends sig to the process group of every running program of
// host among procs (read under mu). For SIGSTOP it returns only once every
// thread of those groups has stopped (waitStopped), so that a freeze is in
// force when it returns.
func signalHost(ctx context.Context, mu *sync.Mutex, procs *[]*nsProc, host string, sig syscall.Signal) error {
	mu.Lock()
	ps := append([]*nsProc(nil), (*procs)...)
	mu.Unlock()
	var groups []int
	for _, p := range ps {
		if p.host != host {
			continue
		}
		select {
		case <-p.done:
			continue
		default:
		}
		if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil {
			if errors.Is(err, syscall.ESRCH) {
				continue
			}
			return fmt.Errorf("signal %v to %s: %w", sig, host, err)
		}
		groups = append(groups, p.cmd.Process.Pid)
	}
	if sig != syscall.SIGSTOP {
		return nil
	}
	if err := waitStopped(ctx, groups); err != nil {
		return fmt.Errorf("freeze %s: %w", host, err)
	}
	return nil
}

// nsProc is a program started by the netns backend.
type nsProc struct {
	cmd  *exec.Cmd
	host string
	done chan struct{}
	err  error
}

func (p *nsProc) wait() {
	p.err = p.cmd.Wait()
	close(p.done)
}

// Pid implements Process.
func (p *nsProc) Pid() int { return p.cmd.Process.Pid }

// Done implements Process.
func (p *nsProc) Done() <-chan struct{} { return p.done }

// Wait implements Process.
func (p *nsProc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("netlab: wait for pid %d: %w", p.Pid(), ctx.Err())
	}
}

// Signal implements Process: the signal goes to the process group.
func (p *nsProc) Signal(sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("netlab: signal %v: not a syscall.Signal", sig)
	}
	select {
	case <-p.done:
		return os.ErrProcessDone
	default:
	}
	if err := syscall.Kill(-p.Pid(), s); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return fmt.Errorf("netlab: signal %v to pid %d: %w", sig, p.Pid(), err)
	}
	return nil
}

// Stop implements Process.
func (p *nsProc) Stop(ctx context.Context, grace time.Duration) error {
	if err := p.Signal(syscall.SIGTERM); errors.Is(err, os.ErrProcessDone) {
		<-p.done
		return nil
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	return p.Kill(ctx)
}

// Kill implements Process. It always reaps: SIGKILL cannot be ignored, so
// it waits for the exit even past ctx (which only bounds the wait for an
// error report).
func (p *nsProc) Kill(ctx context.Context) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	_ = syscall.Kill(-p.Pid(), syscall.SIGCONT)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("netlab: kill pid %d: still running after SIGKILL", p.Pid())
	}
}
