// Package scenarios holds the shipped scenario files (*.yaml) and named
// topologies (topologies/*.yaml), embedded so that `p2plab run` finds them
// anywhere, and the Ginkgo suites that check p2plab's requirements (run
// with plain `go test ./scenarios/...`). It has no other code.
package scenarios

import "embed"

// FS holds every shipped scenario file at its top and the named
// topologies under topologies/.
//
//go:embed *.yaml topologies/*.yaml
var FS embed.FS
