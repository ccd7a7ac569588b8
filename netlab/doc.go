// Package netlab builds virtual networks of hosts for tests: each host is a
// network namespace (netns backend) or a container (docker backend) with its
// own addresses on one or more LANs, runs programs as real processes, and can
// be hit with faults (cut, block, partition, loss, rate, freeze, kill). A
// router host can be a NAT (NATSpec: RFC 4787/5382 behaviours, each axis
// apart), translated in this process from NFQUEUE; netlab/natcheck
// classifies what a NAT does.
//
// A Topology describes the network; New brings it up on a Backend and returns
// a Lab; Lab.Close removes everything, and Clean removes what crashed runs
// left behind. Every fault returns its Undo.
//
// netlab knows nothing of instant messaging or of any protocol: it moves
// packets and runs processes. It is not a general container orchestrator.
package netlab
