package docker

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/moby/moby/api/types/network"
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
// Docker-side addresses (a "carrier" subnet from CarrierPool, never the
// LAN's subnet) are replaced by the lab's own in each host (see
// configureHost), so labs with the same subnets can run side by side.
// The carrier is given explicitly (IPAM) rather than left to the engine,
// whose default pools run out after about 30 networks machine-wide; a
// candidate another network holds is refused by the engine and the next one
// is tried (docs/docker.md).
//
// It is not an "internal" network: with br_netfilter on, Docker filters an
// internal bridge to its own subnet, which would drop every lab address and
// every routed packet. No host has a default route instead (configureHost),
// and masquerading is off, so nothing leaves the lab.
func (b *Backend) createNetwork(ctx context.Context, lan netlab.LAN) error {
	name := networkName(b.cfg.RunID, lan.Name)
	bits := carrierBits(lan.Subnet)
	var err error
	tries := carrierCandidates(bits)
	for i := range tries {
		var sub netip.Prefix
		if sub, err = carrierSubnet(CarrierPool, b.cfg.RunID, lan.Name, bits, i); err != nil {
			return fmt.Errorf("docker: network %s for LAN %s: %w", name, lan.Name, err)
		}
		// Through the engine client: testcontainers' NetworkRequest cannot
		// carry driver options.
		var res client.NetworkCreateResult
		res, err = b.p.Client().NetworkCreate(ctx, name, client.NetworkCreateOptions{
			Driver:  "bridge",
			Labels:  labels(b.cfg.RunID, "lan", "", b.pid),
			Options: lanOptions,
			IPAM:    &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: sub}}},
		})
		if res.ID != "" {
			b.mu.Lock()
			b.networks = append(b.networks, res.ID)
			b.mu.Unlock()
		}
		if err == nil {
			return nil
		}
		if !isPoolOverlap(err) || ctx.Err() != nil {
			return fmt.Errorf("docker: network %s for LAN %s (carrier %s): %w", name, lan.Name, sub, err)
		}
	}
	return fmt.Errorf("docker: network %s for LAN %s: %d carrier subnets of %s taken: %w (last: %w)", name, lan.Name, tries, CarrierPool, ErrNoCarrier, err)
}
