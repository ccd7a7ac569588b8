// Package server is p2plab's reference server for protocol versions 1 and
// 1.1 (docs/protocol.md): it accepts TCP connections, logs users in, keeps the
// online registry with each user's observed endpoint, answers GetP2PInfo,
// relays the relayable frames with the sender enforced, broadcasts
// UserStateNotify on login and on every way of going offline, detects dead
// connections by heartbeat, and counts per-user uploads and downloads, which
// it serves on an admin HTTP handler (/v1/stats, /metrics, /healthz).
// For v1.1 clients it also vouches for their keys, answers UDP hellos on
// its TCP port number and relays the punch coordination with its own
// records of each sender's endpoints (section 9); v1 clients see none of
// it.
//
// Each connection has one reader and one writer goroutine and a bounded
// outbound queue: a peer that stops reading is disconnected with Error
// slow_consumer and never delays anyone else. One sender's relayed frames
// hold at most half of a destination's queue; past it that sender (only)
// is read no further until the destination's writer takes the queue, so a
// flood slows its sender instead of getting a reading destination cut
// (docs/protocol.md 5.10). No lock is held while writing to a socket.
//
// It is the system under test of the lab, not a library for building other
// servers; the `p2plab server` subcommand wraps it, and package servertest
// starts one for tests.
package server
