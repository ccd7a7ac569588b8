package netlab

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The kernel's IPv4 neighbour (ARP) table is one table for every network
// namespace on the machine, with machine-wide limits (gc_thresh2 soft,
// gc_thresh3 hard; 512 and 1024 by default). Labs where many hosts talk to
// each other overflow it ("neighbour table overflow"), and then new
// connections fail in every lab on the machine.
const neighSysctl = "/proc/sys/net/ipv4/neigh/default/"

// neighNeed is how many ARP entries a topology can need at most: every host
// knowing every other host of each of its LANs.
func neighNeed(t Topology) int {
	per := map[string]int{}
	for _, h := range t.Hosts {
		for _, n := range h.NICs {
			per[n.LAN]++
		}
	}
	need := 0
	for _, n := range per {
		need += n * (n - 1)
	}
	return need
}

// raiseNeighLimits makes sure the machine's ARP table can hold what this
// topology may need on top of other labs: gc_thresh2 at least 2x and
// gc_thresh3 at least 4x the need. It only ever raises the limits (other
// labs may be counting on them) and reports what it changed; it changes
// nothing for small labs. Failing to write (not root, not the machine's own
// namespace) is not an error.
func raiseNeighLimits(t Topology) []string {
	need := neighNeed(t)
	var changed []string
	for _, l := range []struct {
		name   string
		target int
	}{{"gc_thresh2", 2 * need}, {"gc_thresh3", 4 * need}} {
		b, err := os.ReadFile(neighSysctl + l.name)
		if err != nil {
			return changed
		}
		cur, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || cur >= l.target {
			continue
		}
		if err := os.WriteFile(neighSysctl+l.name, []byte(strconv.Itoa(l.target)), 0o644); err != nil {
			continue
		}
		changed = append(changed, fmt.Sprintf("net.ipv4.neigh.default.%s %d -> %d", l.name, cur, l.target))
	}
	return changed
}
