// Package defective holds deliberately broken protocol implementations for
// the conformance checker's self-test: each breaks exactly one rule, so the
// test can assert that the checker fails exactly the requirements that rule
// covers (a checker that cannot fail proves nothing).
//
// Defective servers are a frame-rewriting proxy in front of the reference
// server; defective clients are a proxy around the reference client's server
// link, P2P listener and control API. They exist only for tests and must
// never be used as real implementations.
package defective
