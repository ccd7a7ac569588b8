package conform

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
)

// ServerTarget is a running server under test.
type ServerTarget struct {
	// Addr is the server's protocol endpoint.
	Addr netip.AddrPort
	// Admin is the admin API address (IP:PORT); empty skips the admin checks.
	Admin string
	// Heartbeat and Misses are the server's heartbeat settings; zero skips the
	// heartbeat timeout checks.
	Heartbeat time.Duration
	Misses    int
	// CheckTimeout bounds each check (default DefaultTimeout); checks that
	// wait out a heartbeat timeout get heartbeat*(misses+1) on top.
	CheckTimeout time.Duration
	// In, if set, runs fn where the checker's sockets belong (a lab host:
	// netlab.Host.Do); nil dials from this process's namespace.
	In func(ctx context.Context, fn func() error) error
	// AdminHTTP, if set, is the HTTP client for the admin API.
	AdminHTTP *http.Client
}

// RunServer checks the server at target against reqs (server requirements;
// others are ignored), one after the other, calling onResult (if not nil)
// after each. It returns the results in order.
func RunServer(ctx context.Context, target ServerTarget, reqs []Requirement, onResult func(Result)) []Result {
	run := runID()
	var out []Result
	for i, r := range reqs {
		if r.server == nil {
			continue
		}
		t := &serverT{ServerTarget: target, prefix: fmt.Sprintf("cf%s-%d", run, i)}
		timeout := checkTimeout(r, target.CheckTimeout)
		if r.usesHeartbeat && target.Heartbeat > 0 {
			timeout += target.Heartbeat * time.Duration(target.Misses+1)
		}
		res := runOne(ctx, r, timeout, func(ctx context.Context) error { return r.server(ctx, t) }, &t.cl)
		out = append(out, res)
		if onResult != nil {
			onResult(res)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return out
}

// serverT is what a server check works with.
type serverT struct {
	ServerTarget
	prefix string
	n      atomic.Int64
	cl     closers
}

// user returns a userID unique to this check.
func (t *serverT) user(name string) string { return t.prefix + "-" + name }

// dial opens a raw connection to the server, closed when the check ends.
func (t *serverT) dial(ctx context.Context, name string) (*session, error) {
	c, err := t.rawConn(ctx, name, 0)
	if err != nil {
		return nil, err
	}
	s := newSession(name, c)
	t.cl.add(s.Close)
	return s, nil
}

// rawConn opens a plain connection to the server (no session reads it),
// closed when the check ends. A rcvbuf > 0 sets its receive buffer (before
// the connect when this process dials, so the window never opens wider).
func (t *serverT) rawConn(ctx context.Context, name string, rcvbuf int) (net.Conn, error) {
	var d net.Dialer
	if rcvbuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	var c net.Conn
	dial := func() error {
		var err error
		c, err = d.DialContext(ctx, "tcp", t.Addr.String())
		return err
	}
	var err error
	if t.In != nil {
		err = t.In(ctx, dial)
	} else {
		err = dial()
	}
	if err != nil {
		return nil, fmt.Errorf("conform: %s: dial %s: %w", name, t.Addr, err)
	}
	t.cl.add(func() { c.Close() })
	return c, nil
}

// login dials and logs in as user, and fails unless LoginResult ok arrives.
func (t *serverT) login(ctx context.Context, user string) (*session, error) {
	s, err := t.dial(ctx, user)
	if err != nil {
		return nil, err
	}
	return t.loginOn(ctx, s, user)
}

// loginOn logs in as user on the session s.
func (t *serverT) loginOn(ctx context.Context, s *session, user string) (*session, error) {
	if _, err := s.request(protocol.TypeLogin, protocol.Login{UserID: user, UserName: "conform " + user}); err != nil {
		return nil, err
	}
	f, err := s.expect(ctx, "LoginResult", func(f protocol.Frame) bool {
		return f.Type == protocol.TypeLoginResult || f.Type == protocol.TypeError
	})
	if err != nil {
		return nil, err
	}
	if lr := body[protocol.LoginResult](f); f.Type != protocol.TypeLoginResult || !lr.OK {
		return nil, failf(fmt.Sprintf("LoginResult ok:true for a fresh valid user %q", user), "%s", describe(f))
	}
	return s, nil
}

// logins logs in several users in order.
func (t *serverT) logins(ctx context.Context, names ...string) ([]*session, error) {
	out := make([]*session, len(names))
	for i, n := range names {
		s, err := t.login(ctx, t.user(n))
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// roundTrip sends a Heartbeat with an id and expects the HeartbeatAck.
func roundTrip(ctx context.Context, s *session, why string) error {
	if s.closed() {
		return failf(why+": "+s.name+" still connected", "its connection was closed (%s)", s.endReason())
	}
	id, err := s.request(protocol.TypeHeartbeat, nil)
	if err != nil {
		return failf(why+": "+s.name+" still connected", "%v", err)
	}
	if _, err := s.expect(ctx, fmt.Sprintf("HeartbeatAck re=%d (%s)", id, why), isReply(protocol.TypeHeartbeatAck, id)); err != nil {
		return err
	}
	return nil
}

// expectError waits for the next Error frame and checks its code and, when
// re > 0, its re.
func expectError(ctx context.Context, s *session, code string, re int64) (protocol.Frame, error) {
	want := "Error " + code
	if re > 0 {
		want += fmt.Sprintf(" re=%d", re)
	}
	f, err := s.expect(ctx, want, isError)
	if err != nil {
		return f, err
	}
	if got := body[protocol.Error](f); got.Code != code || (re > 0 && f.Re != re) {
		return f, failf(want, "%s", describe(f))
	}
	return f, nil
}

// chat builds a ChatMessage body.
func chat(id, from, to, content string) protocol.Chat {
	return protocol.Chat{MessageID: id, UserID: from, DestUserID: to, Content: content, SendTime: time.Now().UTC().Format(time.RFC3339)}
}

// admin returns an admin API client, or skips.
func (t *serverT) admin() (*api.Admin, error) {
	if t.Admin == "" {
		return nil, skipf("no admin address given (--admin)")
	}
	var a *api.Admin
	if t.AdminHTTP != nil {
		a = api.NewAdminWithClient(t.Admin, t.AdminHTTP)
	} else {
		a = api.NewAdmin(t.Admin)
	}
	t.cl.add(a.Close)
	return a, nil
}

// listOf renders a ResP2pInfo user list.
func listOf(users []protocol.UserInfo) string {
	var parts []string
	for _, u := range users {
		parts = append(parts, fmt.Sprintf("%s@%s:%d", u.UserID, u.IP, u.Port))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// needHeartbeat skips a check that needs the server's heartbeat settings
// when they are unknown.
func (t *serverT) needHeartbeat() error {
	if t.Heartbeat <= 0 || t.Misses <= 0 {
		return skipf("the server's heartbeat settings are unknown (give --heartbeat and --misses)")
	}
	return nil
}
