// Package htmlreport turns the evidence of a p2plab run into one
// self-contained HTML page a person reads: a summary table of the
// scenarios with their verdicts, and per scenario a timeline with one lane
// per host, channel lifecycles as bars, faults as shaded bands over the
// lanes they hit, chats and files as arrows labelled p2p or relay, every
// expectation as a marker with its verdict, the failing step with expected
// versus seen, and links to every artifact.
//
// It reads only what a run leaves on disk (each scenario's result and
// timeline.jsonl, docs/scenarios.md "Artifacts"), so a page can be made for
// any run whose artifacts are kept. The page needs no network: styles are
// inline and the drawing is SVG, with no script. It is not a live view of a
// running lab.
package htmlreport
