package api

import "time"

// Via values: the path a message or file took.
const (
	ViaP2P   = "p2p"
	ViaRelay = "relay"
)

// Event types reported by GET /v1/events.
const (
	EventLogin          = "login"
	EventUserOnline     = "user_online"
	EventUserOffline    = "user_offline"
	EventChannelOpened  = "channel_opened"
	EventChannelClosed  = "channel_closed"
	EventChatSent       = "chat_sent"
	EventChatReceived   = "chat_received"
	EventChatAcked      = "chat_acked"
	EventChatFailed     = "chat_failed"
	EventChatResent     = "chat_resent"
	EventFileSent       = "file_sent"
	EventFileReceived   = "file_received"
	EventFileFailed     = "file_failed"
	EventServerLost     = "server_lost"
	EventServerRestored = "server_restored"
	EventLogout         = "logout"
	// Version 1.1 (docs/protocol.md 9.7): an attempt of the ladder starts
	// or fails (peer, method, reason).
	EventTry       = "try"
	EventTryFailed = "try_failed"
	// EventLimit reports a bound that refused or dropped something
	// (reason names it).
	EventLimit = "limit"
)

// Status is the answer to GET /v1/status.
type Status struct {
	UserID string `json:"userID"`
	// Online is true while the client is logged in to the server.
	Online bool `json:"online"`
	// Server is the server address the client dials (IP:PORT).
	Server string `json:"server"`
	// Listen is the local endpoint the client listens on (IP:PORT), the same
	// as its server connection's local endpoint.
	Listen string `json:"listen"`
	// Limits counts, by limit name, the times a bound of the reference
	// client (docs/protocol.md 2.5) refused or dropped something; absent
	// when none was hit.
	Limits map[string]int64 `json:"limits,omitempty"`
}

// Channel is one P2P channel in the answer to GET /v1/channels.
type Channel struct {
	Peer      string `json:"peer"`
	Transport string `json:"transport"` // "tcp" or "udp" (QUIC)
	// Method is how the channel was made: "lan", "direct", "tcp-punch" or
	// "udp-punch" (docs/protocol.md 9.7).
	Method string `json:"method,omitempty"`
	Local  string `json:"local"`  // IP:PORT
	Remote string `json:"remote"` // IP:PORT
	// Initiator is the userID of the side that opened the channel.
	Initiator string    `json:"initiator"`
	OpenedAt  time.Time `json:"openedAt"`
}

// TransportNone is GET /v1/channels/{peer}'s transport when no channel to
// the peer exists.
const TransportNone = "none"

// Channels is the answer to GET /v1/channels.
type Channels struct {
	Channels []Channel `json:"channels"`
}

// ChatRequest is the body of POST /v1/chat.
type ChatRequest struct {
	To      string `json:"to"`
	Content string `json:"content"`
}

// ChatResponse answers POST /v1/chat.
type ChatResponse struct {
	MessageID string `json:"messageID"`
	Via       string `json:"via"`
}

// FileRequest is the body of POST /v1/files. Path is a file path as the
// client program sees it.
type FileRequest struct {
	To   string `json:"to"`
	Path string `json:"path"`
}

// FileResponse answers POST /v1/files.
type FileResponse struct {
	TransferID string `json:"transferID"`
	Via        string `json:"via"`
}

// ConnectRequest is the body of POST /v1/connect.
type ConnectRequest struct {
	Peer string `json:"peer"`
}

// ConnectResponse answers POST /v1/connect with the channel now open.
type ConnectResponse struct {
	Channel Channel `json:"channel"`
}

// Event is one entry of GET /v1/events. Fields other than Seq, Time and Type
// are set according to Type.
type Event struct {
	Seq  int64     `json:"seq"`
	Time time.Time `json:"time"`
	Type string    `json:"type"`

	UserID     string `json:"userID,omitempty"`     // user_online, user_offline, login
	Peer       string `json:"peer,omitempty"`       // channel_opened, channel_closed
	Initiator  string `json:"initiator,omitempty"`  // channel_opened
	Transport  string `json:"transport,omitempty"`  // channel_opened: tcp or udp
	Method     string `json:"method,omitempty"`     // channel_opened, try, try_failed: lan, direct, tcp-punch, udp-punch
	Reason     string `json:"reason,omitempty"`     // channel_closed, chat_failed, file_failed, server_lost
	From       string `json:"from,omitempty"`       // chat_received, file_received
	To         string `json:"to,omitempty"`         // chat_sent, chat_acked, chat_failed, file_sent
	MessageID  string `json:"messageID,omitempty"`  // chat_*
	Content    string `json:"content,omitempty"`    // chat_received, chat_sent
	Via        string `json:"via,omitempty"`        // chat_*, file_*
	TransferID string `json:"transferID,omitempty"` // file_*
	Name       string `json:"name,omitempty"`       // file_received
	Size       int64  `json:"size,omitempty"`       // file_received
	SHA256     string `json:"sha256,omitempty"`     // file_received
	Path       string `json:"path,omitempty"`       // file_received: where it was stored
}

// Events is the answer to GET /v1/events.
type Events struct {
	Events []Event `json:"events"`
}

// ErrorBody is the body of every 4xx/5xx answer of both APIs.
type ErrorBody struct {
	Error string `json:"error"`
}

// UserStats is one user's entry in the admin stats.
type UserStats struct {
	UserID string `json:"userID"`
	Online bool   `json:"online"`
	// Uploads counts relayable frames the server received from this user and
	// forwarded; Downloads counts relayed frames it delivered to this user.
	Uploads      int64      `json:"uploads"`
	Downloads    int64      `json:"downloads"`
	LastUpload   *time.Time `json:"lastUpload,omitempty"`
	LastDownload *time.Time `json:"lastDownload,omitempty"`
	// RelayedBytes counts payload bytes of frames relayed from this user.
	RelayedBytes int64 `json:"relayedBytes"`
}

// Totals sums the admin stats over all users.
type Totals struct {
	Online       int   `json:"online"`
	Users        int   `json:"users"`
	Connections  int   `json:"connections"`
	Uploads      int64 `json:"uploads"`
	Downloads    int64 `json:"downloads"`
	RelayedBytes int64 `json:"relayedBytes"`
	// Version 1.1 (docs/protocol.md 9.10): UDP hellos answered, ignored
	// (wrong token, not logged in, malformed), and PunchConnect/PunchSync
	// frames relayed.
	UDPHellos         int64 `json:"udpHellos"`
	UDPHellosRejected int64 `json:"udpHellosRejected"`
	PunchRelayed      int64 `json:"punchRelayed"`
	// PendingRefused counts connections closed at accept because too many
	// had not logged in yet (docs/protocol.md 5.1).
	PendingRefused int64 `json:"pendingRefused"`
	// OfflineForgotten counts offline users dropped from the stats by the
	// server's bound on remembered offline users (docs/protocol.md 8.2).
	OfflineForgotten int64 `json:"offlineForgotten"`
	// RelayThrottled counts relayed frames that waited because their
	// sender held its share of the destination's queue (docs/protocol.md
	// 5.10).
	RelayThrottled int64 `json:"relayThrottled"`
}

// Stats is the answer to the server's GET /v1/stats. Users holds every user
// seen since the server started, sorted by userID.
type Stats struct {
	Users  []UserStats `json:"users"`
	Totals Totals      `json:"totals"`
}

// User returns the stats of one user, or false.
func (s Stats) User(id string) (UserStats, bool) {
	for _, u := range s.Users {
		if u.UserID == id {
			return u, true
		}
	}
	return UserStats{}, false
}
