// Package reliability proves that p2plab holds up: bad input against the
// server on a lab host, load (100 clients, both paths at once), a seeded
// chaos schedule, and the tools behind `make leaks` and `make flake`
// (docs/reliability.md). Its Ginkgo suite runs with plain
// `go test ./reliability/...`; without a label filter only the cheap specs
// (bad input, label "netns") run; the heavy ones carry the labels "load"
// and "chaos" and run through their make targets.
//
// The package itself holds only what the specs need and can be tested on
// its own: the chaos schedule generator and /proc readers. It is not a
// load generator for other projects and not a fault injector: faults come
// from netlab.
package reliability
