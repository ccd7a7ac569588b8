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
