package client

import (
	"crypto/ed25519"
	"net/netip"
	"time"

	"github.com/p2plab/p2plab/protocol"
)

// server11 is what a v1.1 server said in the last LoginResult
// (docs/protocol.md 9.1); zero for a v1 server.
type server11 struct {
	features []string
	token    string
	hb       time.Duration
	misses   int
	observed netip.AddrPort // the TCP endpoint the server advertises for us
}

// features lists what this client does (docs/protocol.md 9.1).
func (c *Client) features() []string {
	if c.cfg.Version1 {
		return nil
	}
	fs := []string{protocol.FeatureID}
	if c.cfg.Punch {
		fs = append(fs, protocol.FeaturePunch, protocol.FeatureQUIC)
	}
	return fs
}

// loginBody is the Login this client sends from local.
func (c *Client) loginBody(local netip.AddrPort) protocol.Login {
	l := protocol.Login{UserID: c.cfg.UserID, UserName: c.cfg.UserName}
	if c.cfg.Version1 {
		return l
	}
	ep := protocol.EndpointOf(local)
	l.Features, l.Key, l.Local = c.features(), protocol.EncodeKey(c.priv.Public().(ed25519.PublicKey)), &ep
	return l
}

// loggedIn11 records the v1.1 members of a successful LoginResult.
func (c *Client) loggedIn11(res protocol.LoginResult) {
	s := server11{features: protocol.CleanFeatures(res.Features), token: res.Token,
		hb: time.Duration(res.HeartbeatMS) * time.Millisecond, misses: res.Misses}
	if res.Observed != nil {
		s.observed, _ = res.Observed.AddrPort()
	}
	if c.cfg.Version1 {
		s = server11{observed: s.observed}
	}
	c.mu.Lock()
	c.srv11 = s
	c.mu.Unlock()
}

// teardownWindow is how long a v1.1 server keeps a silent session:
// heartbeat x (misses+1) from its LoginResult; 0 from a v1 server.
func teardownWindow(res protocol.LoginResult) time.Duration {
	if res.HeartbeatMS <= 0 || res.Misses <= 0 {
		return 0
	}
	return time.Duration(res.HeartbeatMS) * time.Millisecond * time.Duration(res.Misses+1)
}

// retryRefusal reports whether a refused first login is worth another try:
// already_online while the old session of a restarted client may still
// linger, for up to the server's teardown window (docs/protocol.md 9.1)
// (from the first refusal on).
func (c *Client) retryRefusal(le *LoginError) bool {
	if le.Code != protocol.CodeAlreadyOnline {
		return false
	}
	window := le.window
	if window <= 0 {
		window = c.cfg.Heartbeat * time.Duration(c.cfg.Misses+1)
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refusedSince.IsZero() {
		c.refusedSince = now
	}
	return now.Sub(c.refusedSince) < window
}

// serverHas reports whether the server advertised feature f.
func (c *Client) serverHas(f string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return protocol.Has(c.srv11.features, f)
}
