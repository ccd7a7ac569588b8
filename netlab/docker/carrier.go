package docker

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"

	cerrdefs "github.com/containerd/errdefs"
)

// CarrierPool is the range the backend takes each LAN network's carrier
// subnet from (docs/docker.md, "Carrier subnets"). It lies outside the
// engine's default address pools (172.17.0.0/16-172.31.0.0/16 and
// 192.168.0.0/16), which hold only about 30 networks for the whole machine
// and are shared with every other Docker user, and outside 198.18.0.0/15,
// so no lab subnet is ever routed in the machine's own namespace.
var CarrierPool = netip.MustParsePrefix("172.16.0.0/16")

// carrierTries bounds the subnets tried for one network: the engine refuses
// one that overlaps another network's (another lab's, or anyone's), and the
// next one is tried.
const carrierTries = 64

// carrierCandidates is how many subnets are tried for a carrier of bits:
// carrierTries, or every slot of the pool if it has fewer.
func carrierCandidates(bits int) int {
	if n := bits - CarrierPool.Bits(); n >= 0 && n < 6 {
		return min(carrierTries, 1<<n)
	}
	return carrierTries
}

// ErrNoCarrier is wrapped when no free carrier subnet was found for a LAN.
var ErrNoCarrier = errors.New("no free carrier subnet")

// carrierBits is the size of a LAN's carrier subnet: room for one address
// more than the LAN's own subnet (the engine's gateway on the bridge), at
// least a /28 and at most a /20.
func carrierBits(lan netip.Prefix) int {
	return min(max(lan.Bits()-1, 20), 28)
}

// carrierSubnet is the i-th carrier candidate of a LAN of a run: candidates
// start at a slot hashed from the run and LAN names, so parallel labs and
// the LANs of one lab mostly start apart, and go on slot by slot.
func carrierSubnet(pool netip.Prefix, runID, lan string, bits, i int) (netip.Prefix, error) {
	if bits < pool.Bits() || bits > 30 || !pool.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("docker: carrier /%d does not fit pool %s: %w", bits, pool, ErrNoCarrier)
	}
	slots := uint64(1) << (bits - pool.Bits())
	h := fnv.New64a()
	h.Write([]byte(runID + "\x00" + lan))
	slot := (h.Sum64() + uint64(i)) % slots
	base := pool.Masked().Addr().As4()
	v := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	v += uint32(slot) << (32 - bits)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), bits), nil
}

// isPoolOverlap reports whether the engine refused a network because its
// subnet overlaps an existing one's (libnetwork's ErrPoolOverlap, a
// "forbidden" error: HTTP 403).
func isPoolOverlap(err error) bool {
	return cerrdefs.IsPermissionDenied(err)
}
