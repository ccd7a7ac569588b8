package client

import (
	"log/slog"

	"github.com/p2plab/p2plab/protocol"
	"net/netip"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultHeartbeat = time.Second
	DefaultMisses    = 3
)

// Config configures a Client.
type Config struct {
	// Server is the address of the p2plab server.
	Server netip.AddrPort
	// UserID is the user to log in as (1-64 of A-Za-z0-9._-); UserName is
	// optional.
	UserID, UserName string
	// Heartbeat is the heartbeat interval on the server connection and on
	// every P2P channel (default 1s).
	Heartbeat time.Duration
	// Misses is how many silent heartbeat intervals make a connection dead
	// (default 3).
	Misses int
	// LogPath is the P2PInfo log file ("" = in memory only; the log is
	// always also served by GET /v1/log).
	LogPath string
	// FilesDir is where received files are stored (default: a new temporary
	// directory).
	FilesDir string
	// Control is the control API endpoint: a unix socket path (anything
	// with a '/', or "unix:PATH") or "IP:PORT" ("" = no control API).
	Control string
	// Logger receives diagnostics (default: discarded).
	Logger *slog.Logger

	// ReconnectMin and ReconnectMax bound the jittered exponential backoff
	// between attempts to reach the server (defaults 100ms and 5s).
	ReconnectMin, ReconnectMax time.Duration
	// DialTimeout bounds one dial, to the server or to a peer (default
	// Heartbeat*Misses, at least 3s).
	DialTimeout time.Duration

	// Version1 makes the client a protocol version 1 client: no features,
	// no key, no proofs asked or given, no punching (docs/protocol.md 9.2).
	Version1 bool
	// StrictV1Peers takes a v1 peer (one without a vouched key) only from
	// its advertised IP address (docs/protocol.md 9.2); by default any
	// online key-less user's claim is taken, as version 1 does.
	StrictV1Peers bool
	// Punch enables the punching steps of the ladder (docs/protocol.md
	// 9.7): the client advertises punch and quic and runs tcp-punch and
	// udp-punch when no plain dial works.
	Punch bool
	// Methods restricts the punching methods tried (default both:
	// protocol.MethodTCPPunch, protocol.MethodUDPPunch).
	Methods []string
	// Ladder bounds the whole ladder of attempts for one peer (default 5s).
	Ladder time.Duration
	// KeepAlive is the interval of UDP hellos once the first was answered
	// (default 15s; docs/protocol.md 9.5).
	KeepAlive time.Duration
}

func (cfg *Config) setDefaults() {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Misses <= 0 {
		cfg.Misses = DefaultMisses
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ReconnectMin <= 0 {
		cfg.ReconnectMin = 100 * time.Millisecond
	}
	if cfg.ReconnectMax <= 0 {
		cfg.ReconnectMax = 5 * time.Second
	}
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = cfg.ReconnectMin
	}
	if cfg.Ladder <= 0 {
		cfg.Ladder = 5 * time.Second
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 15 * time.Second
	}
	if cfg.Methods == nil {
		cfg.Methods = []string{protocol.MethodTCPPunch, protocol.MethodUDPPunch}
	}
	if cfg.DialTimeout <= 0 {
		// at least 3s: the kernel's first SYN retransmission comes after
		// 1s, so a shorter dial dies of a single lost SYN.
		cfg.DialTimeout = max(3*time.Second, cfg.Heartbeat*time.Duration(cfg.Misses))
	}
}
