// Package bench holds p2plab's end-to-end benchmarks: full-mesh
// establishment, heartbeat teardown detection, relay throughput, P2P versus
// relay server cost and memory, each measured on real lab hosts (netlab
// namespaces driven through sim) running the real p2plab binary. They need
// root and skip, saying so, without it. `make bench` runs them together
// with the bring-up benchmarks of netlab and netlab/docker and rewrites the
// generated part of docs/benchmarks.md (see bench/cmd/benchreport).
//
// This package is for measuring, never for pass/fail speed checks: a slow
// machine makes a figure worse, not a benchmark fail. The small helpers
// exported here (percentiles, /proc readers) exist for the benchmarks and
// the report program, not as a general library.
package bench
