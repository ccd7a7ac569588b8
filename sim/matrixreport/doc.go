// Package matrixreport holds the results of a NAT-pair matrix run
// (`p2plab matrix`, docs/matrix.md) and writes them as the reports a
// person or a CI system reads: JSON, JUnit XML (one testcase per pair),
// Markdown, and one self-contained HTML page with the matrix as a grid
// coloured by verdict whose cells open their trials.
//
// The package is the data model and the writers only. The matrix runner
// fills a Report (the kinds, one Cell per pair with its Trials, each
// trial's verdict), calls Report.Summarize to derive counts, rates with
// their Wilson interval and percentiles, and then the writers. What makes
// a trial pass is the runner's (and the oracle's), not this package's.
// It also has the terminal progress printer the runner uses.
package matrixreport
