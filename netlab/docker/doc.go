// Package docker is the docker Backend of netlab: each lab host is a set of
// containers sharing one network namespace (a long-lived "idle" container
// that holds it, plus one container per program), each LAN a Docker bridge
// network; the backend gives every host interface its fixed lab address and
// routes itself, through netlink in the container's namespace. It is driven
// through testcontainers-go and the Docker Engine API. See docs/docker.md.
//
// The image is built once per lab FROM scratch around a static p2plab binary
// (see BuildBinary), so nothing is ever pulled. Ryuk is disabled: the backend
// removes what it made itself (Destroy), CleanRun removes one run's leftovers
// and Clean the leftovers of labs whose process died, all found by the
// p2plab.run label.
//
// Faults are not applied here: netlab.Lab applies them through NetNS (the
// host container's PID -> its network namespace) with the same netlink and
// nftables code as on the netns backend. This package is not a general
// container orchestrator and knows nothing of the chat protocol.
package docker
