package protocol

import (
	"net/netip"
)

// Message types of protocol version 1.
const (
	TypeLogin             = "Login"
	TypeLoginResult       = "LoginResult"
	TypeGetP2PInfo        = "GetP2PInfo"
	TypeResP2pInfo        = "ResP2pInfo"
	TypeChatMessage       = "ChatMessage"
	TypeChatAck           = "ChatAck"
	TypeUserStateNotify   = "UserStateNotify"
	TypeSetupP2PMessage   = "SetupP2PMessage"
	TypeClientChatMessage = "ClientChatMessage"
	TypeHeartbeat         = "Heartbeat"
	TypeHeartbeatAck      = "HeartbeatAck"
	TypeFileOffer         = "FileOffer"
	TypeFileChunk         = "FileChunk"
	TypeFileDone          = "FileDone"
	TypeFileResult        = "FileResult"
	TypeLogout            = "Logout"
	TypeError             = "Error"
)

// Error codes carried in an Error frame's body.
const (
	CodeBadFrame      = "bad_frame"
	CodeNotLoggedIn   = "not_logged_in"
	CodeAlreadyOnline = "already_online"
	CodeBadUserID     = "bad_user_id"
	CodeUnknownType   = "unknown_type"
	CodeUserOffline   = "user_offline"
	CodeForbidden     = "forbidden"
	// CodeSlowConsumer is sent by the reference server to a connection whose
	// outbound queue overflowed, just before it is closed.
	CodeSlowConsumer = "slow_consumer"
)

// Relayable reports whether frames of type t are forwarded by the server to
// the body's destUserID.
func Relayable(t string) bool {
	switch t {
	case TypeChatMessage, TypeChatAck, TypeFileOffer, TypeFileChunk, TypeFileDone, TypeFileResult:
		return true
	}
	return false
}

// Known reports whether t is a message type of protocol version 1.
func Known(t string) bool {
	switch t {
	case TypeLogin, TypeLoginResult, TypeGetP2PInfo, TypeResP2pInfo, TypeChatMessage,
		TypeChatAck, TypeUserStateNotify, TypeSetupP2PMessage, TypeClientChatMessage,
		TypeHeartbeat, TypeHeartbeatAck, TypeFileOffer, TypeFileChunk, TypeFileDone,
		TypeFileResult, TypeLogout, TypeError:
		return true
	}
	return false
}

// MaxUserIDLen is the longest allowed userID.
const MaxUserIDLen = 64

// ValidUserID reports whether id is 1-64 characters of A-Za-z0-9._-.
func ValidUserID(id string) bool {
	if len(id) < 1 || len(id) > MaxUserIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Login is the body of a Login frame.
type Login struct {
	UserID   string `json:"userID"`
	UserName string `json:"userName,omitempty"`
	// Features marks a v1.1 client (docs/protocol.md 9.1).
	Features []string `json:"features,omitempty"`
	// Key is the client's Ed25519 public key, standard base64 (9.3).
	Key string `json:"key,omitempty"`
	// Local is the client's own view of its endpoint (9.1).
	Local *Endpoint `json:"local,omitempty"`
}

// Endpoint is an IP and port as they appear on the wire.
type Endpoint struct {
	IP   string `json:"ip"`
	Port int    `json:"port"`
}

// EndpointOf converts an address to its wire form.
func EndpointOf(ap netip.AddrPort) Endpoint {
	return Endpoint{IP: ap.Addr().Unmap().String(), Port: int(ap.Port())}
}

// AddrPort parses the endpoint; ok is false if it is not a valid IP and port.
func (e Endpoint) AddrPort() (netip.AddrPort, bool) {
	a, err := netip.ParseAddr(e.IP)
	if err != nil || e.Port < 1 || e.Port > 65535 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, uint16(e.Port)), true
}

// LoginResult is the body of a LoginResult frame.
type LoginResult struct {
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
	Observed *Endpoint `json:"observed,omitempty"`
	// Version 1.1 members (docs/protocol.md 9.1), sent only to clients
	// whose Login carried features.
	Features    []string `json:"features,omitempty"`
	Token       string   `json:"token,omitempty"`
	HeartbeatMS int64    `json:"heartbeat,omitempty"`
	Misses      int      `json:"misses,omitempty"`
}

// UserInfo is one online user in a ResP2pInfo body.
type UserInfo struct {
	UserID string `json:"userID"`
	IP     string `json:"ip"`
	Port   int    `json:"port"`
	Peer11
}

// Peer11 holds the version 1.1 members of a user's entry in ResP2pInfo and
// UserStateNotify (docs/protocol.md 9.1).
type Peer11 struct {
	Features []string  `json:"features,omitempty"`
	Key      string    `json:"key,omitempty"`
	Local    *Endpoint `json:"local,omitempty"`
	UDP      *Endpoint `json:"udp,omitempty"`
}

// ResP2pInfo is the body of a ResP2pInfo frame.
type ResP2pInfo struct {
	Users []UserInfo `json:"users"`
}

// Chat is the body of ChatMessage and ClientChatMessage frames.
type Chat struct {
	MessageID    string `json:"messageID"`
	UserID       string `json:"userID"`
	UserName     string `json:"userName,omitempty"`
	DestUserID   string `json:"destUserID"`
	DestUserName string `json:"destUserName,omitempty"`
	Content      string `json:"content"`
	SendTime     string `json:"sendTime"`
}

// ChatAck is the body of a ChatAck frame: the receiver (UserID) acknowledges
// MessageID to its sender (DestUserID).
type ChatAck struct {
	MessageID  string `json:"messageID"`
	UserID     string `json:"userID"`
	DestUserID string `json:"destUserID"`
}

// UserStateNotify is the body of a UserStateNotify frame.
type UserStateNotify struct {
	UserID string `json:"userID"`
	OnLine bool   `json:"onLine"`
	IP     string `json:"ip,omitempty"`
	Port   int    `json:"port,omitempty"`
	Peer11
}

// SetupP2P is the body of a SetupP2PMessage frame. Nonce, Proof and Method
// are the version 1.1 channel handshake (docs/protocol.md 9.4).
type SetupP2P struct {
	UserID string `json:"userID"`
	Nonce  string `json:"nonce,omitempty"`
	Proof  string `json:"proof,omitempty"`
	Method string `json:"method,omitempty"`
}

// FileOffer is the body of a FileOffer frame.
type FileOffer struct {
	TransferID string `json:"transferID"`
	UserID     string `json:"userID,omitempty"`
	DestUserID string `json:"destUserID"`
	FileName   string `json:"fileName"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
}

// FileChunk is the body of a FileChunk frame. Data is at most MaxChunkData
// raw bytes (encoding/json base64-encodes it).
type FileChunk struct {
	TransferID string `json:"transferID"`
	UserID     string `json:"userID,omitempty"`
	DestUserID string `json:"destUserID"`
	Offset     int64  `json:"offset"`
	Data       []byte `json:"data"`
}

// FileDone is the body of a FileDone frame.
type FileDone struct {
	TransferID string `json:"transferID"`
	UserID     string `json:"userID,omitempty"`
	DestUserID string `json:"destUserID"`
}

// FileResult is the body of a FileResult frame, sent by the receiver.
type FileResult struct {
	TransferID string `json:"transferID"`
	UserID     string `json:"userID,omitempty"`
	DestUserID string `json:"destUserID"`
	OK         bool   `json:"ok"`
	Error      string `json:"error,omitempty"`
}

// Error is the body of an Error frame. MessageID or TransferID name what a
// user_offline refusal refuses.
type Error struct {
	Code       string `json:"code"`
	Message    string `json:"message,omitempty"`
	MessageID  string `json:"messageID,omitempty"`
	TransferID string `json:"transferID,omitempty"`
	// PunchID names the PunchConnect or PunchSync an unsupported or
	// user_offline refusal refuses (version 1.1, docs/protocol.md 9.6).
	PunchID string `json:"punchID,omitempty"`
}

// Relay holds the routing fields common to every relayable body.
type Relay struct {
	UserID     string `json:"userID"`
	DestUserID string `json:"destUserID"`
	MessageID  string `json:"messageID,omitempty"`
	TransferID string `json:"transferID,omitempty"`
}
