package client

import "github.com/p2plab/p2plab/protocol"

// CloseListenersForTest closes the client's P2P listeners, so peers that
// dial its endpoint get "connection refused" (the test hook behind the
// relay-fallback test). Established channels stay up.
func (c *Client) CloseListenersForTest() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ln := range c.listeners {
		ln.Close()
	}
}

// KillChannelForTest tears the channel to peer down as if the connection
// had been lost, and reports whether there was one.
func (c *Client) KillChannelForTest(peer string) bool {
	c.mu.Lock()
	ch := c.chans[peer]
	c.mu.Unlock()
	if ch == nil {
		return false
	}
	ch.l.close(protocol.ReasonConnectionLost)
	return true
}

// SetBoundsForTest lowers the duplicate filter, channel table and P2PInfo
// log file bounds (docs/protocol.md 2.5) for one test, which must not run
// in parallel with others; the returned func restores them.
func SetBoundsForTest(seen, channels int, logFile int64) (restore func()) {
	s, ch, lf := maxSeen, maxChannels, maxLogFile
	maxSeen, maxChannels, maxLogFile = seen, channels, logFile
	return func() { maxSeen, maxChannels, maxLogFile = s, ch, lf }
}
