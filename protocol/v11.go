package protocol

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
)

// Message types added by protocol version 1.1 (docs/protocol.md 9.5, 9.6).
const (
	TypeUDPHello     = "UDPHello"
	TypeUDPHelloAck  = "UDPHelloAck"
	TypePunchConnect = "PunchConnect"
	TypePunchSync    = "PunchSync"
	TypePunch        = "Punch"
)

// CodeUnsupported refuses a v1.1 frame for a destination that did not
// advertise the feature it needs (docs/protocol.md 9.6).
const CodeUnsupported = "unsupported"

// Features of protocol version 1.1 (docs/protocol.md 9.1).
const (
	FeatureID    = "id"
	FeatureUDP   = "udp"
	FeaturePunch = "punch"
	FeatureQUIC  = "quic"
)

// Methods a channel is made by (docs/protocol.md 9.7).
const (
	MethodLAN      = "lan"
	MethodDirect   = "direct"
	MethodTCPPunch = "tcp-punch"
	MethodUDPPunch = "udp-punch"
)

// Channel transports as reported by the control API.
const (
	TransportTCP = "tcp"
	TransportUDP = "udp"
)

// ALPN is the QUIC application protocol of a P2P channel (9.8).
const ALPN = "p2plab/1"

// MaxFeatures bounds the features a program advertises; MaxDatagram the
// size of a version 1.1 UDP datagram (one frame, docs/protocol.md 9.5).
const (
	MaxFeatures = 16
	MaxDatagram = 1200
)

// PunchRelayable reports whether frames of type t are relayed by a v1.1
// server with feature punch (docs/protocol.md 9.6).
func PunchRelayable(t string) bool { return t == TypePunchConnect || t == TypePunchSync }

// ValidFeature reports whether f is 1-32 of a-z0-9-.
func ValidFeature(f string) bool {
	if len(f) < 1 || len(f) > 32 {
		return false
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// CleanFeatures keeps the valid features, without repeats, at most
// MaxFeatures of them.
func CleanFeatures(fs []string) []string {
	out := make([]string, 0, min(len(fs), MaxFeatures))
	for _, f := range fs {
		if len(out) == MaxFeatures {
			break
		}
		if ValidFeature(f) && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// Has reports whether features lists f.
func Has(features []string, f string) bool { return slices.Contains(features, f) }

// UDPHello is the body of a UDPHello datagram (docs/protocol.md 9.5).
type UDPHello struct {
	UserID string `json:"userID"`
	Token  string `json:"token"`
	Seq    int64  `json:"seq"`
}

// UDPHelloAck is the server's answer to a UDPHello.
type UDPHelloAck struct {
	Seq      int64    `json:"seq"`
	Observed Endpoint `json:"observed"`
}

// PunchConnect is the body of a PunchConnect frame (docs/protocol.md 9.6).
// TCP, UDP and Local are written by the server, never trusted from the
// sender.
type PunchConnect struct {
	PunchID    string    `json:"punchID"`
	UserID     string    `json:"userID,omitempty"`
	DestUserID string    `json:"destUserID"`
	Answer     bool      `json:"answer,omitempty"`
	Methods    []string  `json:"methods,omitempty"`
	TCP        *Endpoint `json:"tcp,omitempty"`
	UDP        *Endpoint `json:"udp,omitempty"`
	Local      *Endpoint `json:"local,omitempty"`
}

// PunchSync is the body of a PunchSync frame.
type PunchSync struct {
	PunchID    string   `json:"punchID"`
	UserID     string   `json:"userID,omitempty"`
	DestUserID string   `json:"destUserID"`
	Methods    []string `json:"methods,omitempty"`
}

// Punch is the body of a punch datagram between two clients.
type Punch struct {
	PunchID string `json:"punchID"`
	UserID  string `json:"userID"`
}

// Handshake roles signed in a SetupP2PMessage proof.
const (
	RoleAccept   = "accept"
	RoleInitiate = "initiate"
)

// Transcript is what a SetupP2PMessage proof signs (docs/protocol.md 9.4):
// the role, the initiator and acceptor userIDs and both nonces.
func Transcript(role, initiator, acceptor, nonceI, nonceA string) []byte {
	var b bytes.Buffer
	b.WriteString("p2plab/1.1 setup\x00")
	for i, s := range []string{role, initiator, acceptor, nonceI, nonceA} {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(s)
	}
	return b.Bytes()
}

// EncodeKey writes a public key as it appears on the wire.
func EncodeKey(k ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(k) }

// ParseKey reads a wire public key; ok is false unless it is the base64 of
// exactly 32 bytes.
func ParseKey(s string) (ed25519.PublicKey, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, false
	}
	return ed25519.PublicKey(b), true
}

// Prove signs the transcript with priv and returns the proof text.
func Prove(priv ed25519.PrivateKey, transcript []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(priv, transcript))
}

// CheckProof reports whether proof is pub's signature of transcript.
func CheckProof(pub ed25519.PublicKey, transcript []byte, proof string) bool {
	sig, err := base64.StdEncoding.DecodeString(proof)
	if err != nil || len(sig) != ed25519.SignatureSize || len(pub) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.Verify(pub, transcript, sig)
}

// MarshalDatagram encodes f as one UDP datagram: exactly one frame of at
// most MaxDatagram bytes (docs/protocol.md 9.5).
func MarshalDatagram(f Frame) ([]byte, error) {
	b, err := Marshal(f)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxDatagram {
		return nil, fmt.Errorf("protocol: %s datagram of %d bytes exceeds %d", f.Type, len(b), MaxDatagram)
	}
	return b, nil
}

// UnmarshalDatagram decodes a UDP datagram that must be exactly one frame.
// Errors are *FrameError values (CodeBadFrame).
func UnmarshalDatagram(b []byte) (Frame, error) {
	if len(b) < headerLen+1 || len(b) > MaxDatagram {
		return Frame{}, badFrame("datagram of %d bytes", len(b))
	}
	if n := binary.BigEndian.Uint32(b); int(n) != len(b)-headerLen {
		return Frame{}, badFrame("datagram length %d does not match its frame length %d", len(b)-headerLen, n)
	}
	return Unmarshal(b[headerLen:])
}
