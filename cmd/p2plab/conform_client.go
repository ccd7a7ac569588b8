package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/p2plab/p2plab/conform"
	"github.com/p2plab/p2plab/netlab"
)

func parseAddrPort(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad address %q (want IP:PORT): %w", s, err)
	}
	return ap, nil
}

// conformClient runs the client checks in a lab: the reference server
// (this binary's "server", or --server) on one host, a fresh client under
// test from --cmd or --image for each check on another, the fake peers on
// a third.
func conformClient(ctx context.Context, cf conformFlags, reqs []conform.Requirement, refServer string) int {
	if cf.cmd == "" && cf.image == "" {
		fmt.Fprintln(os.Stderr, "p2plab conform client: give --cmd or --image (with --image, --cmd may give the container's arguments)")
		return 2
	}
	o, err := cf.labOptions("client")
	if err != nil {
		fmt.Fprintln(os.Stderr, "p2plab conform client:", err)
		return 2
	}
	if refServer != "" {
		// A server already running on this machine is reachable only
		// from hosts that share its namespace.
		if cf.lab != "auto" && cf.lab != netlab.BackendLocal || cf.image != "" {
			fmt.Fprintln(os.Stderr, "p2plab conform client: --server is a server on this machine: it works with the local backend only")
			return 2
		}
		o.Backend = netlab.BackendLocal
		if o.Server, err = parseAddrPort(refServer); err != nil {
			fmt.Fprintln(os.Stderr, "p2plab conform client: --server:", err)
			return 2
		}
	}
	if cf.verbose {
		o.OnOutput = func(user, output string) { fmt.Fprintf(os.Stderr, "--- client %s output ---\n%s\n", user, output) }
	}
	lab, ct, err := conform.StartClientLab(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "p2plab conform client:", err)
		return 2
	}
	defer func() {
		if err := lab.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "p2plab conform client: lab close:", err)
		}
	}()
	desc := cf.cmd
	if cf.image != "" {
		desc = cf.image
	}
	cf.artifacts = lab.Artifacts()
	fmt.Printf("p2plab conform client: running on a %s lab (reference server, client and fake peers on three hosts); artifacts in %s\n", o.Backend, cf.artifacts)
	fmt.Printf("p2plab conform client: %d requirements, reference server on %s\n", len(reqs), ct.Server)
	start := time.Now()
	results, err := conform.RunClient(ctx, ct, reqs, func(r conform.Result) { conform.WriteLine(os.Stdout, r) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "p2plab conform client:", err)
		return 2
	}
	return finish(os.Stdout, cf, conform.RoleClient, desc, start, results)
}
