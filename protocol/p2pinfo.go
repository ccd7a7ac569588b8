package protocol

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// Reasons a P2P channel is closed, as written in the P2PInfo log and in
// channel_closed events.
const (
	ReasonPeerOffline      = "peer offline"
	ReasonHeartbeatTimeout = "heartbeat timeout"
	ReasonConnectionLost   = "connection lost"
	ReasonReplaced         = "replaced"
	ReasonLogout           = "logout"
)

// LogTimeFormat is the timestamp layout of P2PInfo log lines: RFC 3339, UTC,
// nanoseconds.
const LogTimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// Log event kinds, one per P2PInfo phrase.
const (
	LogPrepare      = "prepare"
	LogCreated      = "created"
	LogCreateFailed = "create_failed"
	LogAccepted     = "accepted"
	LogSendP2P      = "send_p2p"
	LogForwarding   = "forwarding"
	LogClosed       = "closed"
	// Version 1.1 phrases (docs/protocol.md 7.2).
	LogTry       = "try"
	LogTryFailed = "try_failed"
	LogPunched   = "punched"
	LogRefused   = "refused"
)

// LogEntry is one parsed P2PInfo log line.
type LogEntry struct {
	Time time.Time
	Kind string // one of the Log* constants
	Peer string // the peer userID (prepare, created, create_failed, accepted, closed)
	// Addr is the peer endpoint (prepare, created, create_failed, accepted).
	Addr   netip.AddrPort
	Reason string // create_failed and closed
	Me     string // send_p2p: the current user ID
	// Method is the attempt's method (try, try_failed, punched).
	Method string
}

// Phrase renders the entry's phrase, without the timestamp.
func (e LogEntry) Phrase() string {
	ep := func() string { return e.Peer + ":" + e.Addr.Addr().String() + ":" + fmt.Sprint(e.Addr.Port()) }
	switch e.Kind {
	case LogPrepare:
		return "prepare to create " + ep()
	case LogCreated:
		return "created " + ep()
	case LogCreateFailed:
		return "create failed " + ep() + ": " + e.Reason
	case LogAccepted:
		return "accepted " + ep()
	case LogSendP2P:
		return "send messages through p2p channel, current user ID is " + e.Me
	case LogForwarding:
		return "server Forwarding Message"
	case LogClosed:
		return "closed " + e.Peer + ": " + e.Reason
	case LogTry:
		return "try " + e.Method + " " + ep()
	case LogTryFailed:
		return "try failed " + e.Method + " " + ep() + ": " + e.Reason
	case LogPunched:
		return "punched " + e.Method + " " + ep()
	case LogRefused:
		return "refused " + ep() + ": " + e.Reason
	}
	return ""
}

// String renders the whole log line (timestamp, space, phrase), without a
// trailing newline.
func (e LogEntry) String() string {
	return e.Time.UTC().Format(LogTimeFormat) + " " + e.Phrase()
}

var (
	reEndpoint  = `([A-Za-z0-9._-]{1,64}):([0-9a-fA-F.:]+):([0-9]{1,5})`
	rePrepare   = regexp.MustCompile(`^prepare to create ` + reEndpoint + `$`)
	reCreated   = regexp.MustCompile(`^created ` + reEndpoint + `$`)
	reFailed    = regexp.MustCompile(`^create failed ` + reEndpoint + `: (.+)$`)
	reAccepted  = regexp.MustCompile(`^accepted ` + reEndpoint + `$`)
	reSendP2P   = regexp.MustCompile(`^send messages through p2p channel, current user ID is ([A-Za-z0-9._-]{1,64})$`)
	reMethod    = `(lan|direct|tcp-punch|udp-punch) `
	reTry       = regexp.MustCompile(`^try ` + reMethod + reEndpoint + `$`)
	reTryFailed = regexp.MustCompile(`^try failed ` + reMethod + reEndpoint + `: (.+)$`)
	rePunched   = regexp.MustCompile(`^punched ` + reMethod + reEndpoint + `$`)
	reRefused   = regexp.MustCompile(`^refused ` + reEndpoint + `: (.+)$`)
	reClosed    = regexp.MustCompile(`^closed ([A-Za-z0-9._-]{1,64}): (peer offline|heartbeat timeout|connection lost|replaced|logout)$`)
)

// ParseLogLine parses one P2PInfo log line. It rejects anything that is not
// exactly one of the phrases of docs/protocol.md section 7.2 (versions 1
// and 1.1).
func ParseLogLine(line string) (LogEntry, error) {
	line = strings.TrimRight(line, "\r\n")
	ts, phrase, ok := strings.Cut(line, " ")
	if !ok {
		return LogEntry{}, fmt.Errorf("protocol: log line %q: no timestamp", line)
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return LogEntry{}, fmt.Errorf("protocol: log line %q: timestamp: %w", line, err)
	}
	if !strings.HasSuffix(ts, "Z") {
		return LogEntry{}, fmt.Errorf("protocol: log line %q: timestamp is not UTC", line)
	}
	e := LogEntry{Time: t}
	endpoint := func(m []string) error {
		e.Peer = m[1]
		ip, err := netip.ParseAddr(m[2])
		if err != nil {
			return fmt.Errorf("protocol: log line %q: address: %w", line, err)
		}
		var port uint16
		if _, err := fmt.Sscan(m[3], &port); err != nil {
			return fmt.Errorf("protocol: log line %q: port: %w", line, err)
		}
		e.Addr = netip.AddrPortFrom(ip, port)
		return nil
	}
	switch {
	case phrase == "server Forwarding Message":
		e.Kind = LogForwarding
	case rePrepare.MatchString(phrase):
		e.Kind = LogPrepare
		err = endpoint(rePrepare.FindStringSubmatch(phrase))
	case reCreated.MatchString(phrase):
		e.Kind = LogCreated
		err = endpoint(reCreated.FindStringSubmatch(phrase))
	case reFailed.MatchString(phrase):
		m := reFailed.FindStringSubmatch(phrase)
		e.Kind = LogCreateFailed
		e.Reason = m[4]
		err = endpoint(m)
	case reAccepted.MatchString(phrase):
		e.Kind = LogAccepted
		err = endpoint(reAccepted.FindStringSubmatch(phrase))
	case reSendP2P.MatchString(phrase):
		e.Kind = LogSendP2P
		e.Me = reSendP2P.FindStringSubmatch(phrase)[1]
	case reTry.MatchString(phrase):
		m := reTry.FindStringSubmatch(phrase)
		e.Kind, e.Method = LogTry, m[1]
		err = endpoint(m[1:])
	case reTryFailed.MatchString(phrase):
		m := reTryFailed.FindStringSubmatch(phrase)
		e.Kind, e.Method, e.Reason = LogTryFailed, m[1], m[5]
		err = endpoint(m[1:])
	case rePunched.MatchString(phrase):
		m := rePunched.FindStringSubmatch(phrase)
		e.Kind, e.Method = LogPunched, m[1]
		err = endpoint(m[1:])
	case reRefused.MatchString(phrase):
		m := reRefused.FindStringSubmatch(phrase)
		e.Kind, e.Reason = LogRefused, m[4]
		err = endpoint(m)
	case reClosed.MatchString(phrase):
		m := reClosed.FindStringSubmatch(phrase)
		e.Kind, e.Peer, e.Reason = LogClosed, m[1], m[2]
	default:
		return LogEntry{}, fmt.Errorf("protocol: log line %q: unknown phrase", line)
	}
	if err != nil {
		return LogEntry{}, err
	}
	return e, nil
}

// ParseLog parses a whole P2PInfo log, one entry per non-empty line. It
// returns the entries parsed before the first bad line, and an error naming
// that line's number.
func ParseLog(text string) ([]LogEntry, error) {
	var out []LogEntry
	for i, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		e, err := ParseLogLine(line)
		if err != nil {
			return out, fmt.Errorf("line %d: %w", i+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}
