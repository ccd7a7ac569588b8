package client

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/p2plab/p2plab/protocol"
)

// errIdentity is a P2P connection whose peer did not prove the identity it
// claims (docs/protocol.md 9.4).
var errIdentity = errors.New("client: peer identity not proved")

// refusal is an accepted connection turned away by the handshake: code is
// the Error code sent, reason the P2PInfo log's reason.
type refusal struct{ code, reason string }

func (r *refusal) Error() string   { return "client: refused: " + r.reason }
func (r *refusal) Is(t error) bool { return t == errIdentity }

// peerWait is how long an acceptor waits for the server to report a user
// it does not know yet (its UserStateNotify may still be in flight).
const peerWait = time.Second

// peerInfo returns what the server last said about peer: its advertised
// endpoint and version 1.1 members; ok is false if it is not online.
func (c *Client) peerInfo(peer string) (netip.AddrPort, protocol.Peer11, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ep, ok := c.users[peer]
	return ep, c.info[peer], ok
}

// waitPeer is peerInfo, waiting up to d for peer to be reported online.
func (c *Client) waitPeer(ctx context.Context, peer string, d time.Duration) (netip.AddrPort, protocol.Peer11, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		c.mu.Lock()
		ep, ok := c.users[peer]
		info := c.info[peer]
		changed := c.usersChanged
		c.mu.Unlock()
		if ok {
			return ep, info, true
		}
		select {
		case <-changed:
		case <-t.C:
			return netip.AddrPort{}, protocol.Peer11{}, false
		case <-ctx.Done():
			return netip.AddrPort{}, protocol.Peer11{}, false
		}
	}
}

// usersUpdatedLocked wakes waitPeer callers; c.mu is held.
func (c *Client) usersUpdatedLocked() {
	close(c.usersChanged)
	c.usersChanged = make(chan struct{})
}

// proves reports whether a peer with these v1.1 members proves its
// identity on channels (and so must).
func proves(info protocol.Peer11) bool {
	_, ok := protocol.ParseKey(info.Key)
	return ok && slices.Contains(info.Features, protocol.FeatureID)
}

func newNonce() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// writeDirect writes one frame on a connection whose link writer has not
// started yet.
func writeDirect(conn net.Conn, f protocol.Frame) error {
	_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	defer conn.SetWriteDeadline(time.Time{})
	return protocol.WriteFrame(conn, f)
}

func setupFrame(s protocol.SetupP2P) protocol.Frame {
	return protocol.MustFrame(protocol.TypeSetupP2PMessage, s)
}

// readSetup reads the next SetupP2PMessage from the peer, skipping
// heartbeats (answered by nobody yet: the link is not running). Any other
// frame is a refusal: nothing but the handshake is taken before it ends.
func readSetup(r *protocol.Reader, peer string) (protocol.SetupP2P, error) {
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return protocol.SetupP2P{}, fmt.Errorf("client: handshake: %w", err)
		}
		switch f.Type {
		case protocol.TypeHeartbeat, protocol.TypeHeartbeatAck:
			continue
		case protocol.TypeSetupP2PMessage:
			var s protocol.SetupP2P
			if err := f.DecodeBody(&s); err != nil {
				return s, &refusal{protocol.CodeBadFrame, "identity: bad SetupP2PMessage"}
			}
			if s.UserID != peer {
				return s, &refusal{protocol.CodeForbidden, "identity: SetupP2PMessage names " + s.UserID}
			}
			return s, nil
		case protocol.TypeError:
			return protocol.SetupP2P{}, &refusal{"", "identity: the peer refused"}
		}
		return protocol.SetupP2P{}, &refusal{protocol.CodeForbidden, "identity: " + f.Type + " before the handshake ended"}
	}
}

// validMethod keeps the methods of docs/protocol.md 9.7; anything else
// (a v1 initiator) is "direct".
func validMethod(m string) string {
	switch m {
	case protocol.MethodLAN, protocol.MethodDirect, protocol.MethodTCPPunch, protocol.MethodUDPPunch:
		return m
	}
	return protocol.MethodDirect
}

// acceptIdentity runs the acceptor's side of the handshake of
// docs/protocol.md 9.4 for a connection whose first frame was s. It
// returns the method the initiator used. A peer the server vouches a key
// for must prove it; a peer without one (a v1 client, or a v1 server) is
// taken only when it is online without a key (and, with StrictV1Peers,
// connects from its advertised address).
func (c *Client) acceptIdentity(conn net.Conn, r *protocol.Reader, s protocol.SetupP2P) (string, error) {
	if c.cfg.Version1 {
		return protocol.MethodDirect, nil
	}
	ep, info, ok := c.waitPeer(c.runCtx, s.UserID, peerWait)
	switch {
	case !ok:
		return "", &refusal{protocol.CodeForbidden, "identity: not online"}
	case !proves(info):
		if s.Nonce != "" {
			return "", &refusal{protocol.CodeForbidden, "identity: no key vouched for this user"}
		}
		// With StrictV1Peers, the address must be the advertised one (not
		// the port: a second channel from a v1 peer, the tie-break of
		// 6.4, cannot come from its advertised port, whose 4-tuple the
		// first channel holds).
		if remote := addrPortOf(conn.RemoteAddr()); c.cfg.StrictV1Peers && remote.Addr() != ep.Addr() {
			return "", &refusal{protocol.CodeForbidden, "identity: v1 peer not at its advertised address " + ep.Addr().String()}
		}
		return protocol.MethodDirect, nil
	case s.Nonce == "":
		return "", &refusal{protocol.CodeForbidden, "identity: no proof"}
	}
	if err := c.answerSetup(conn, r, s.UserID, s.Nonce, info); err != nil {
		return "", err
	}
	return validMethod(s.Method), nil
}

// answerSetup is steps 2 and 4 of the handshake (the acceptor's): answer
// the initiator's nonce with ours and our proof, then check its proof.
func (c *Client) answerSetup(conn net.Conn, r *protocol.Reader, peer, nonceI string, info protocol.Peer11) error {
	key, _ := protocol.ParseKey(info.Key)
	nonceA := newNonce()
	me := c.cfg.UserID
	proof := protocol.Prove(c.priv, protocol.Transcript(protocol.RoleAccept, peer, me, nonceI, nonceA))
	if err := writeDirect(conn, setupFrame(protocol.SetupP2P{UserID: me, Nonce: nonceA, Proof: proof})); err != nil {
		return fmt.Errorf("client: handshake: %w", err)
	}
	for {
		s, err := readSetup(r, peer)
		if err != nil {
			return err
		}
		if s.Proof == "" {
			continue // the peer's own step 1 on a simultaneous open
		}
		if !protocol.CheckProof(key, protocol.Transcript(protocol.RoleInitiate, peer, me, nonceI, nonceA), s.Proof) {
			return &refusal{protocol.CodeForbidden, "identity: bad proof"}
		}
		return nil
	}
}

// dialIdentity runs the initiator's side of the handshake on a connection
// this client opened to peer with method. It returns the channel's
// initiator: this client, or on a simultaneous open the smaller userID.
// A v1 peer gets the version 1 SetupP2PMessage and nothing else.
func (c *Client) dialIdentity(conn net.Conn, r *protocol.Reader, peer, method string) (string, error) {
	me := c.cfg.UserID
	_, info, _ := c.peerInfo(peer)
	if c.cfg.Version1 || !proves(info) {
		return me, writeDirect(conn, setupFrame(protocol.SetupP2P{UserID: me}))
	}
	key, _ := protocol.ParseKey(info.Key)
	nonceI := newNonce()
	if err := writeDirect(conn, setupFrame(protocol.SetupP2P{UserID: me, Nonce: nonceI, Method: method})); err != nil {
		return "", fmt.Errorf("client: handshake: %w", err)
	}
	for {
		s, err := readSetup(r, peer)
		if err != nil {
			return "", err
		}
		if s.Proof == "" {
			// A simultaneous open: the peer dialled too. The larger
			// userID answers as acceptor, the smaller waits for it.
			if me > peer && s.Nonce != "" {
				if err := c.answerSetup(conn, r, peer, s.Nonce, info); err != nil {
					return "", err
				}
				return peer, nil
			}
			continue
		}
		if !protocol.CheckProof(key, protocol.Transcript(protocol.RoleAccept, me, peer, nonceI, s.Nonce), s.Proof) {
			return "", &refusal{protocol.CodeForbidden, "identity: bad proof"}
		}
		proof := protocol.Prove(c.priv, protocol.Transcript(protocol.RoleInitiate, me, peer, nonceI, s.Nonce))
		if err := writeDirect(conn, setupFrame(protocol.SetupP2P{UserID: me, Proof: proof})); err != nil {
			return "", fmt.Errorf("client: handshake: %w", err)
		}
		return me, nil
	}
}

// newReader is the frame reader of a P2P connection.
func newReader(conn net.Conn) *protocol.Reader {
	return protocol.NewReader(bufio.NewReaderSize(conn, 64<<10))
}
