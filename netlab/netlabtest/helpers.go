package netlabtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// helperEnv makes a test binary that imports netlabtest act as a line echo
// server on the given IP:PORT (see init): the suite's program for hosts when
// the backend has no p2plab binary.
const helperEnv = "NETLABTEST_ECHO_LISTEN"

func init() {
	if ap := os.Getenv(helperEnv); ap != "" {
		os.Exit(helperMain(ap))
	}
}

// helperMain serves like `p2plab netcheck -listen`: it prints "listening
// ADDR" and answers one line per connection with "echo LINE from ADDR".
func helperMain(addr string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("listening %s\n", ln.Addr())
	context.AfterFunc(ctx, func() { ln.Close() })
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return 0
			}
			return 1
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				return
			}
			fmt.Fprintf(c, "echo %s from %s\n", strings.TrimSpace(line), ln.Addr())
		}()
	}
}

// echoCommand is a program that serves line echo on ap in a host: the
// backend's p2plab binary (netcheck), or this test binary as helper.
func echoCommand(l *netlab.Lab, h *netlab.Host, ap netip.AddrPort) netlab.Command {
	out := h.Dir() + "/echo.out"
	if bin := l.Backend().Binary(); bin != "" {
		return netlab.Command{Argv: []string{bin, "netcheck", "-listen", ap.String()}, Stdout: out, Stderr: out}
	}
	self, err := os.Executable() // os.Args[0] may be relative to another directory
	if err != nil {
		self = os.Args[0]
	}
	return netlab.Command{
		Argv:   []string{self, "-test.run=^$"},
		Env:    []string{helperEnv + "=" + ap.String()},
		Stdout: out, Stderr: out,
	}
}

// ask sends one line on a new connection from h to ap and returns the
// reply line; the whole exchange must finish within d.
func ask(h *netlab.Host, ap netip.AddrPort, line string, d time.Duration) (string, error) {
	c, err := dial(h, ap, d)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := fmt.Fprintf(c, "%s\n", line); err != nil {
		return "", err
	}
	r, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(r), err
}

// waitAnswer polls ask until the server on ap answers, up to d.
func waitAnswer(t *testing.T, h *netlab.Host, ap netip.AddrPort, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		r, err := ask(h, ap, "hello", time.Second)
		if err == nil && strings.HasPrefix(r, "echo hello from ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no answer from %s within %v: reply %q, %v", h.Name(), ap, d, r, err)
		}
		time.Sleep(20 * time.Millisecond) // poll interval of a deadline loop
	}
}

// dial opens a TCP connection from inside h.
func dial(h *netlab.Host, ap netip.AddrPort, timeout time.Duration) (*net.TCPConn, error) {
	var c net.Conn
	err := h.Do(context.Background(), func() error {
		d := net.Dialer{Timeout: timeout}
		var err error
		c, err = d.Dial("tcp4", ap.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// echoServer is an in-process TCP echo server whose socket lives in a host.
type echoServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// serveEcho starts an echo server on h at port; the test's cleanup stops it.
func serveEcho(t *testing.T, h *netlab.Host, port uint16) netip.AddrPort {
	t.Helper()
	ap := netip.AddrPortFrom(h.Addr(), port)
	s := &echoServer{}
	err := h.Do(context.Background(), func() error {
		var err error
		s.ln, err = net.Listen("tcp4", ap.String())
		return err
	})
	if err != nil {
		t.Fatalf("%s: listen %s: %v", h.Name(), ap, err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		s.ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return ap
}

// echoOnce writes msg and reads the echo within d.
func echoOnce(c net.Conn, msg string, d time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("echo: got %q, want %q", buf, msg)
	}
	return nil
}

// udpCount receives UDP datagrams on h:port carrying marker and returns a
// function, to call once the sender is done, that reports how many arrived
// by the time none came for a second.
func udpCount(t *testing.T, h *netlab.Host, port uint16, marker string) func() int {
	t.Helper()
	ap := netip.AddrPortFrom(h.Addr(), port)
	var pc *net.UDPConn
	err := h.Do(context.Background(), func() error {
		var err error
		pc, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap))
		return err
	})
	if err != nil {
		t.Fatalf("%s: listen udp %s: %v", h.Name(), ap, err)
	}
	// A large buffer (root may exceed rmem_max) so that a receiver starved
	// of CPU on a busy machine does not add its own losses.
	if rc, err := pc.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 8<<20)
		})
	}
	res := make(chan int, 1)
	go func() {
		defer pc.Close()
		n := 0
		buf := make([]byte, 2048)
		_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			m, _, err := pc.ReadFromUDP(buf)
			if err != nil {
				res <- n
				return
			}
			if strings.HasPrefix(string(buf[:m]), marker) {
				n++
			}
			_ = pc.SetReadDeadline(time.Now().Add(time.Second))
		}
	}()
	var once sync.Once
	var n int
	get := func() int {
		once.Do(func() {
			_ = pc.SetReadDeadline(time.Now().Add(time.Second))
			n = <-res
		})
		return n
	}
	t.Cleanup(func() { get() })
	return get
}

// sendUDP sends n datagrams "marker i" from h to dst.
func sendUDP(h *netlab.Host, dst netip.AddrPort, marker string, n int) error {
	var pc *net.UDPConn
	err := h.Do(context.Background(), func() error {
		var err error
		pc, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(dst))
		return err
	})
	if err != nil {
		return err
	}
	defer pc.Close()
	for i := range n {
		if _, err := fmt.Fprintf(pc, "%s %d", marker, i); err != nil {
			return fmt.Errorf("send %d: %w", i, err)
		}
	}
	return nil
}

// isTimeout reports a timeout error.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
