package client_test

import "testing"

// startServer starts a server for one test.
func startServer(t *testing.T) *fakeServer { return newFakeServer(t) }
