// Package leaktest is the project's goroutine leak check for TestMain: a
// thin layer over go.uber.org/goleak that compares the goroutines after a
// package's tests with those before them and gives goroutines that are
// merely finishing a grace period (goleak's own retry budget, about half a
// second in v1.3.0, is too short on a loaded CI machine). It is not a
// profiler and not a replacement for cancelling what you start.
package leaktest

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Grace is how long Main waits for goroutines to finish.
const Grace = 5 * time.Second

// OffEnv set to "off" skips the check.
const OffEnv = "P2PLAB_LEAKCHECK"

// Main runs the tests of a package and then fails the run (exit status 1)
// when goroutines started by the tests are still running after Grace. Use
// it as the whole TestMain:
//
//	func TestMain(m *testing.M) { leaktest.Main(m) }
func Main(m *testing.M) {
	before := goleak.IgnoreCurrent()
	code := m.Run()
	if os.Getenv(OffEnv) != "off" {
		if err := Find(Grace, before); err != nil {
			fmt.Fprintf(os.Stderr, "leaktest: goroutines still running after the tests (%s=off skips this check): %v\n", OffEnv, err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// Find returns goleak's report of the goroutines not excluded by opts
// (e.g. goleak.IgnoreCurrent taken before the work) that are still running
// after grace, or nil as soon as there are none.
func Find(grace time.Duration, opts ...goleak.Option) error {
	deadline := time.Now().Add(grace)
	for {
		err := goleak.Find(opts...) // retries on its own for a while
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}
