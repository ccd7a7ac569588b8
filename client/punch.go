package client

import (
	"context"
)

// punch runs one coordinated punch with peer (docs/protocol.md 9.6).
func (c *Client) punch(ctx context.Context, peer string) (*channel, error) {
	return nil, errNoChannel
}
