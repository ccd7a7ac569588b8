// Package conform is p2plab's conformance checker: a catalogue of protocol
// requirements with stable IDs (for example server/2.1/length-limit), each with
// its level (MUST or SHOULD), the requirement sentence, the section of the
// protocol documentation it comes from, the outcomes that count as a pass,
// and a check that exercises an implementation under test.
//
// Server checks speak raw frames over TCP to the server under test (and read
// its admin API when one is given). Client checks start the client under
// test next to the reference server and drive it through its control API
// while fake peers, driven frame by frame, stand on the other end of its
// channels. Results come back as Result values that the report writers turn
// into a terminal report, JSON and JUnit XML.
//
// It is for checking other implementations (and the reference ones) against
// protocol version 1. It is not a load generator or a scenario runner: each
// check is small, bounded by a deadline, and independent of the others.
package conform
