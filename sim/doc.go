// Package sim runs p2plab scenarios: it loads topology and scenario files
// (YAML, validated with file:line:column errors), brings a netlab.Lab up on
// a backend, starts a server and clients on its hosts, drives the clients
// only through their control API and the server only through its wire and
// admin APIs, applies faults, checks expectations with deadlines, and writes
// an artifacts folder (program output, P2PInfo logs, server stats, a JSON
// lines timeline, pcaps when asked) and reports (JUnit, JSON).
//
// A scenario's steps are typed values, one type per kind (see Step). Every
// expectation's deadline counts from the start of the last action step;
// what happened is judged by its own timestamps where it has them (events,
// log lines) and live state only before the deadline (docs/scenarios.md,
// Expectations). A run ends pass, fail or interrupted (Result.Verdict).
//
// The same machinery is a Go API for hand-written Ginkgo specs: Start brings
// a lab up and returns a Lab with Client, Server and Host handles.
//
// sim does not import the reference server or client: the programs under
// test are whatever the role command templates start, by default the p2plab
// binary itself. It is not a load generator and not a protocol fuzzer.
package sim
