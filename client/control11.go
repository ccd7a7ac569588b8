package client

import (
	"fmt"
	"net/http"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
)

// hChannel answers GET /v1/channels/{peer}: the state of one channel
// (docs/control-api.md): the channel, or {"transport": "none"}.
func (c *Client) hChannel(w http.ResponseWriter, r *http.Request) {
	peer := r.PathValue("peer")
	if !protocol.ValidUserID(peer) {
		writeErr(w, http.StatusBadRequest, fmt.Sprintf("peer: %q is not a valid user ID", peer))
		return
	}
	c.mu.Lock()
	ch := c.chans[peer]
	var out api.Channel
	if ch != nil && !ch.l.closed() {
		out = ch.api()
	} else {
		out = api.Channel{Peer: peer, Transport: api.TransportNone}
	}
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}
