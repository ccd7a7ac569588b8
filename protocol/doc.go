// Package protocol is the wire format of p2plab's protocol versions 1 and
// 1.1: the length-prefixed JSON frame, the message types and their bodies,
// the error codes and limits, the v1.1 features, handshake proofs and UDP
// datagrams, and the phrases of the P2PInfo log.
//
// Both the reference server and the reference client use it, and so does the
// lab when it speaks to a program under test. It does no I/O beyond
// io.Reader and io.Writer: sockets, deadlines and retries belong to callers.
// It is not a client or server library.
package protocol
