package conform

import "context"

// clientT is what a client check works with.
type clientT struct {
	cl closers
}

func clientCatalogue() []Requirement { return nil }

var _ = func(ctx context.Context, t *clientT) error { return nil }
