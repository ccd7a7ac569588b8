package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"

	"github.com/p2plab/p2plab/conform"
)

func parseAddrPort(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad address %q (want IP:PORT): %w", s, err)
	}
	return ap, nil
}

func conformClient(ctx context.Context, cf conformFlags, reqs []conform.Requirement) int {
	fmt.Fprintln(os.Stderr, "p2plab conform client: not implemented yet")
	return 2
}
