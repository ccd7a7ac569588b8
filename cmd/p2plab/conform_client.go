package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/p2plab/p2plab/conform"
)

func parseAddrPort(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad address %q (want IP:PORT): %w", s, err)
	}
	return ap, nil
}

// conformClient starts the reference server (this binary's "server"
// subcommand, on loopback) and runs the client checks, each against a fresh
// client started from --cmd.
func conformClient(ctx context.Context, cf conformFlags, reqs []conform.Requirement, refServer string) int {
	if cf.cmd == "" && cf.image == "" {
		fmt.Fprintln(os.Stderr, "p2plab conform client: give --cmd or --image (with --image, --cmd may give the container's arguments)")
		return 2
	}
	if cf.image != "" {
		return conformClientImage(ctx, cf, reqs)
	}
	for _, p := range []string{"{server}", "{user}", "{control}"} {
		if !strings.Contains(cf.cmd, p) {
			fmt.Fprintf(os.Stderr, "p2plab conform client: --cmd needs the %s placeholder\n", p)
			return 2
		}
	}
	if cf.lab != "auto" && cf.lab != "netns" && cf.lab != "loopback" {
		fmt.Fprintf(os.Stderr, "p2plab conform client: --lab %q: want netns, loopback or auto\n", cf.lab)
		return 2
	}
	if refServer != "" && cf.lab == "netns" {
		fmt.Fprintln(os.Stderr, "p2plab conform client: --server is a loopback server; it cannot be used with --lab netns")
		return 2
	}
	var out func(user, output string)
	if cf.verbose {
		out = func(user, output string) { fmt.Fprintf(os.Stderr, "--- client %s output ---\n%s", user, output) }
	}
	ct := conform.ClientTarget{Heartbeat: cf.heartbeat, Misses: cf.misses}
	where := "loopback"
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "p2plab conform client:", err)
		return 2
	}
	refCmd := shellQuote(exe) + " server --listen {listen} --heartbeat {heartbeat} --misses {misses}"
	if refServer == "" && (cf.lab == "netns" || (cf.lab == "auto" && os.Geteuid() == 0)) {
		lc, lt, err := conform.StartClientLab(ctx, refCmd, cf.cmd, cf.heartbeat, cf.misses)
		switch {
		case err == nil:
			defer func() {
				if err := lc.Close(); err != nil {
					fmt.Fprintln(os.Stderr, "p2plab conform client: lab close:", err)
				}
			}()
			ct, where = lt, "a netns lab (reference server, client and fake peers on three hosts)"
		case cf.lab == "netns":
			fmt.Fprintln(os.Stderr, "p2plab conform client:", err)
			return 2
		default:
			fmt.Fprintf(os.Stderr, "p2plab conform client: lab not available (%v); running on loopback\n", err)
		}
	}
	if ct.Start == nil {
		if refServer != "" {
			ap, err := parseAddrPort(refServer)
			if err != nil {
				fmt.Fprintln(os.Stderr, "p2plab conform client: --server:", err)
				return 2
			}
			ct.Server = ap
		} else {
			srv, target, err := conform.StartServer(ctx, refCmd, time.Second, 3)
			if err != nil {
				fmt.Fprintln(os.Stderr, "p2plab conform client: reference server:", err)
				return 2
			}
			defer srv.Stop(2 * time.Second)
			ct.Server = target.Addr
		}
		ct.Start = conform.CommandClient(cf.cmd, out)
	}
	srvAddr := ct.Server
	fmt.Printf("p2plab conform client: running on %s\n", where)
	fmt.Printf("p2plab conform client: %d requirements, reference server on %s\n", len(reqs), srvAddr)
	start := time.Now()
	results, err := conform.RunClient(ctx, ct, reqs, func(r conform.Result) { conform.WriteLine(os.Stdout, r) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "p2plab conform client:", err)
		return 2
	}
	return finish(os.Stdout, cf, conform.RoleClient, cf.cmd, start, results)
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// conformClientImage runs the client checks against clients started from a
// Docker image on a docker lab host, with the reference server and the fake
// peers on two other containers.
func conformClientImage(ctx context.Context, cf conformFlags, reqs []conform.Requirement) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "p2plab conform client:", err)
		return 2
	}
	lc, ct, err := conform.StartClientImage(ctx, cf.image, cf.cmd, exe, cf.heartbeat, cf.misses)
	if err != nil {
		fmt.Fprintln(os.Stderr, "p2plab conform client:", err)
		return 2
	}
	defer func() {
		if err := lc.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "p2plab conform client: lab close:", err)
		}
	}()
	fmt.Printf("p2plab conform client: %d requirements against image %s on a docker lab (reference server, client and fake peers in three containers)\n", len(reqs), cf.image)
	start := time.Now()
	results, err := conform.RunClient(ctx, ct, reqs, func(r conform.Result) { conform.WriteLine(os.Stdout, r) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "p2plab conform client:", err)
		return 2
	}
	return finish(os.Stdout, cf, conform.RoleClient, cf.image, start, results)
}
