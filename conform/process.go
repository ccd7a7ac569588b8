package conform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a program under test started by the checker: a shell command
// line run in its own process group on this machine.
type Process struct {
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{}
	err  error
}

// tailBuffer keeps the last bytes a process wrote.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const tailMax = 64 << 10

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.buf.Len() > tailMax {
		b.buf.Next(b.buf.Len() - tailMax)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Expand replaces {name} placeholders in a command template.
func Expand(template string, vars map[string]string) string {
	for k, v := range vars {
		template = strings.ReplaceAll(template, "{"+k+"}", v)
	}
	return template
}

// StartProcess runs cmdline with /bin/sh -c in its own process group. The
// process is stopped by Stop (or killed when ctx ends).
func StartProcess(ctx context.Context, cmdline string) (*Process, error) {
	cmd := exec.Command("/bin/sh", "-c", cmdline)
	out := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("conform: start %q: %w", cmdline, err)
	}
	p := &Process{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			p.signal(syscall.SIGKILL)
		case <-p.done:
		}
	}()
	return p, nil
}

// Output returns the last 64 KiB the process wrote to stdout and stderr.
func (p *Process) Output() string { return p.out.String() }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

func (p *Process) signal(sig syscall.Signal) {
	// The whole process group: the shell and what it started.
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// Stop sends SIGTERM to the process group, then SIGKILL if it has not exited
// within grace, and waits for it.
func (p *Process) Stop(grace time.Duration) {
	select {
	case <-p.done:
		p.signal(syscall.SIGKILL) // leftovers of the group, if any
		return
	default:
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.signal(syscall.SIGKILL)
		<-p.done
	}
	p.signal(syscall.SIGKILL)
}

// WaitDial waits until addr accepts TCP connections, the process exits, or
// ctx ends.
func (p *Process) WaitDial(ctx context.Context, addr string) error {
	err := poll(ctx, func() (bool, error) {
		select {
		case <-p.done:
			return false, fmt.Errorf("conform: the program exited (%v) before listening on %s; its output:\n%s", p.err, addr, p.Output())
		default:
		}
		d := net.Dialer{Timeout: 200 * time.Millisecond}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return false, nil
		}
		_ = c.Close()
		return true, nil
	})
	if err != nil && errors.Is(err, ctx.Err()) {
		return fmt.Errorf("conform: the program did not listen on %s in time; its output:\n%s", addr, p.Output())
	}
	return err
}

// WaitOutput waits until the process has printed substr.
func (p *Process) WaitOutput(ctx context.Context, substr string) error {
	err := poll(ctx, func() (bool, error) {
		if strings.Contains(p.Output(), substr) {
			return true, nil
		}
		select {
		case <-p.done:
			return false, fmt.Errorf("conform: the program exited (%v) before printing %q; its output:\n%s", p.err, substr, p.Output())
		default:
		}
		return false, nil
	})
	if err != nil && errors.Is(err, ctx.Err()) {
		return fmt.Errorf("conform: the program did not print %q in time; its output:\n%s", substr, p.Output())
	}
	return err
}

// FreePort returns a loopback address with a port free right now.
func FreePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("conform: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// StartServer starts a server under test from a command template with the
// placeholders {listen}, {admin}, {heartbeat} and {misses}, on loopback, and
// waits until it accepts connections. The target's Heartbeat and Misses fill
// the placeholders (and are what the checks assume).
func StartServer(ctx context.Context, template string, hb time.Duration, misses int) (*Process, ServerTarget, error) {
	listen, err := FreePort()
	if err != nil {
		return nil, ServerTarget{}, err
	}
	admin := ""
	if strings.Contains(template, "{admin}") {
		if admin, err = FreePort(); err != nil {
			return nil, ServerTarget{}, err
		}
	}
	vars := map[string]string{"listen": listen, "admin": admin, "heartbeat": hb.String(), "misses": fmt.Sprint(misses)}
	p, err := StartProcess(context.WithoutCancel(ctx), Expand(template, vars))
	if err != nil {
		return nil, ServerTarget{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := p.WaitDial(wctx, listen); err != nil {
		p.Stop(time.Second)
		return nil, ServerTarget{}, err
	}
	if admin != "" {
		if err := p.WaitDial(wctx, admin); err != nil {
			p.Stop(time.Second)
			return nil, ServerTarget{}, err
		}
	}
	t := ServerTarget{Admin: admin, Heartbeat: hb, Misses: misses}
	t.Addr, _ = netipParse(listen)
	return p, t, nil
}

// containsPlaceholder reports whether template uses {name}.
func containsPlaceholder(template, name string) bool {
	return strings.Contains(template, "{"+name+"}")
}
