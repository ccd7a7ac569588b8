package client

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/p2plab/p2plab/protocol"
)

// QUIC channels (docs/protocol.md 9.8) run on quic-go: a reliable,
// congestion-controlled stream over the punched UDP path, with TLS 1.3
// binding each side's Ed25519 key (9.4).

var errWrongKey = errors.New("client: QUIC peer certificate does not carry the vouched key")

// selfCert is a self-signed certificate for this run's key: it only
// carries the public key, which is what the peer checks.
func selfCert(priv ed25519.PrivateKey) (tls.Certificate, error) {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * 365 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, nil
}

// verifyKey returns a VerifyPeerCertificate that accepts exactly the
// certificate whose key is want.
func verifyKey(want ed25519.PublicKey) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) != 1 {
			return errWrongKey
		}
		cert, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return errWrongKey
		}
		got, ok := cert.PublicKey.(ed25519.PublicKey)
		if !ok || !bytes.Equal(got, want) {
			return errWrongKey
		}
		return nil
	}
}

// tlsFor is the TLS configuration for a QUIC channel with a peer whose
// vouched key is peerKey, on either side.
func (c *Client) tlsFor(peerKey ed25519.PublicKey, server bool) *tls.Config {
	conf := &tls.Config{
		Certificates:          []tls.Certificate{c.cert},
		NextProtos:            []string{protocol.ALPN},
		MinVersion:            tls.VersionTLS13,
		InsecureSkipVerify:    true, // no CA: the key itself is checked below
		VerifyPeerCertificate: verifyKey(peerKey),
		ServerName:            "p2plab",
	}
	if server {
		conf.ClientAuth = tls.RequireAnyClientCert
	}
	return conf
}

// quicConfig keeps the QUIC connection alive longer than the channel's
// own heartbeat timeout, so the heartbeats decide (docs/protocol.md 9.8).
func (c *Client) quicConfig() *quic.Config {
	dead := c.cfg.Heartbeat * time.Duration(c.cfg.Misses)
	return &quic.Config{
		HandshakeIdleTimeout: 2 * time.Second,
		MaxIdleTimeout:       2*dead + 5*time.Second,
	}
}

// quicConn is a QUIC channel's one stream as a net.Conn, so a link runs on
// it as on TCP.
type quicConn struct {
	*quic.Stream
	qc *quic.Conn
}

func (q quicConn) LocalAddr() net.Addr  { return q.qc.LocalAddr() }
func (q quicConn) RemoteAddr() net.Addr { return q.qc.RemoteAddr() }

// Close ends the whole QUIC connection.
func (q quicConn) Close() error {
	q.Stream.CancelRead(0)
	return q.qc.CloseWithError(0, "closed")
}
