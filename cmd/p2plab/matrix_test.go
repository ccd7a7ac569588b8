package main

import (
	"context"
	"testing"
)

// Bad usage is refused with exit status 2 before any lab comes up.
func TestMatrixUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--kinds", "none,carrier-grade"},
		{"--backend", "local"},
		{"--backend", "nowhere"},
		{"--kinds", "none,symmetric", "--pairs", "symmetric/full-cone"},
		{"--client-cmd", "{bin} client --user {user}"}, // no {control}: the lab could not drive it
		{"--no-such-flag"},
	} {
		if got := runMatrix(context.Background(), append(args, "--artifacts", t.TempDir())); got != 2 {
			t.Errorf("p2plab matrix %v: exit %d, want 2", args, got)
		}
	}
}
