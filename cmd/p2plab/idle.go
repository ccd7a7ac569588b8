package main

// Lab helper subcommands. They are not part of the chat system: the docker
// backend runs "idle" as the long-lived process that holds a host's network
// namespace, and the lab suites use "netcheck" to prove that application
// bytes cross a lab LAN (a scratch image has no shell, nc or ping).

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"
)

func init() {
	register("idle", "(lab helper) block until SIGTERM or SIGINT", runIdle)
	register("netcheck", "(lab helper) TCP echo server (-listen) or client (-dial)", runNetcheck)
}

// runIdle blocks until the context is cancelled (SIGINT or SIGTERM).
func runIdle(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return 2
	}
	<-ctx.Done()
	return 0
}

// runNetcheck is a tiny TCP echo pair. The server answers each line with
// "echo <line> from <its address>" so that a test sees which host replied.
func runNetcheck(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("netcheck", flag.ContinueOnError)
	listen := fs.String("listen", "", "serve echo on IP:PORT (or unix:PATH) until SIGTERM")
	dial := fs.String("dial", "", "send -msg to IP:PORT and print the reply")
	msg := fs.String("msg", "ping", "line to send with -dial")
	timeout := fs.Duration("timeout", 5*time.Second, "deadline for -dial")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if (*listen == "") == (*dial == "") || fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "netcheck: give exactly one of -listen or -dial")
		return 2
	}
	if *listen != "" {
		network, addr := "unix", strings.TrimPrefix(*listen, "unix:")
		if addr == *listen {
			ap, err := netip.ParseAddrPort(*listen)
			if err != nil {
				fmt.Fprintf(os.Stderr, "netcheck: -listen: %v\n", err)
				return 2
			}
			network, addr = "tcp", ap.String()
		}
		if err := netcheckServe(ctx, network, addr); err != nil {
			fmt.Fprintf(os.Stderr, "netcheck: %v\n", err)
			return 1
		}
		return 0
	}
	ap, err := netip.ParseAddrPort(*dial)
	if err != nil {
		fmt.Fprintf(os.Stderr, "netcheck: -dial: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	reply, err := netcheckDial(ctx, ap, *msg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "netcheck: %v\n", err)
		return 1
	}
	fmt.Println(reply)
	return 0
}

func netcheckServe(ctx context.Context, network, addr string) error {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
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

func netcheckDial(ctx context.Context, ap netip.AddrPort, msg string) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", ap.String())
	if err != nil {
		return "", fmt.Errorf("dial %s: %w", ap, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := fmt.Fprintf(c, "%s\n", msg); err != nil {
		return "", fmt.Errorf("write %s: %w", ap, err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read %s: %w", ap, err)
	}
	return strings.TrimSpace(line), nil
}
