package docker

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"

	"github.com/p2plab/p2plab/netlab"
)

// Bridge options of every LAN network: no NAT to the outside, containers
// talk freely on the bridge.
var lanOptions = map[string]string{
	"com.docker.network.bridge.enable_ip_masquerade": "false",
	"com.docker.network.bridge.enable_icc":           "true",
}

// createNetwork makes the Docker network of one LAN: a bridge whose
// Docker-side addresses (a "carrier" pool the engine picks, never the
// LAN's subnet) are replaced by the lab's own in each host (see
// configureHost), so labs with the same subnets can run side by side.
//
// It is not an "internal" network: with br_netfilter on, Docker filters an
// internal bridge to its own subnet, which would drop every lab address and
// every routed packet. No host has a default route instead (configureHost),
// and masquerading is off, so nothing leaves the lab.
func (b *Backend) createNetwork(ctx context.Context, lan netlab.LAN) error {
	name := networkName(b.cfg.RunID, lan.Name)
	// Through the engine client: testcontainers' NetworkRequest cannot
	// carry driver options.
	res, err := b.p.Client().NetworkCreate(ctx, name, client.NetworkCreateOptions{
		Driver:  "bridge",
		Labels:  labels(b.cfg.RunID, "lan", "", b.pid),
		Options: lanOptions,
	})
	if res.ID != "" {
		b.mu.Lock()
		b.networks = append(b.networks, res.ID)
		b.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("docker: network %s for LAN %s: %w", name, lan.Name, err)
	}
	return nil
}
