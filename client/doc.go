// Package client is p2plab's reference headless client: it logs in to a
// p2plab server, listens for P2P channels on the same local endpoint as its
// server connection, keeps a P2P channel table with heartbeats, sends chat
// messages and files over a channel or through the server, writes the
// P2PInfo log and serves the control API (docs/control-api.md). As a
// protocol v1.1 client (docs/protocol.md section 9) it proves an Ed25519
// identity on every channel and takes only proved peers (or v1 peers), and
// with Config.Punch it runs the ladder of attempts: LAN, direct, TCP
// simultaneous open and UDP punching with a QUIC channel (quic-go).
//
// Nothing a peer sends makes it hold unbounded memory, descriptors or disk:
// the limits (handshakes, incoming transfers, unacknowledged messages, the
// channel table, the duplicate filter, the P2PInfo log, events, outbound
// queues) are the table of docs/protocol.md 2.5; a hit is a refusal that
// says why or a documented drop, reported as a limit event and counted in
// the status's limits. A burst of chats from one peer is answered in full
// (heartbeats go ahead of it) and never closes the link.
//
// It is the program under test in lab scenarios and the reference other
// client implementations are compared with. It is not a general IM library:
// it has no persistence, no UI and no relay of its own (TURN).
package client
