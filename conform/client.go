package conform

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/sim"
)

// ClientRun is how one client under test is to be started.
type ClientRun struct {
	// Server is the reference server it logs in to.
	Server netip.AddrPort
	// User is its userID.
	User string
	// Control is the unix socket path its control API must serve.
	Control string
	// Log is the path of its P2PInfo log file; Files its received-files
	// directory.
	Log, Files string
	// Heartbeat and Misses are its heartbeat settings.
	Heartbeat time.Duration
	Misses    int
}

// StartClientFunc starts a client under test. It returns once the program
// is started (the checks wait for its control API); stop must stop it and
// wait for it.
type StartClientFunc func(ctx context.Context, run ClientRun) (stop func(), err error)

// Network is where the checker's fake peers live: it makes their listeners
// and connections (with SO_REUSEADDR and SO_REUSEPORT, so a fake peer can
// listen on and dial from its server connection's endpoint). sim.HostNet,
// a lab host's network, is one.
type Network interface {
	// Addr is the IP address fake peers use.
	Addr() netip.Addr
	// Listen listens on addr (port 0: any free port).
	Listen(ctx context.Context, addr netip.AddrPort) (net.Listener, error)
	// Dial connects to remote from local (zero: any local endpoint).
	Dial(ctx context.Context, local, remote netip.AddrPort) (net.Conn, error)
}

// ClientTarget is a client implementation under test and the reference
// server the checks put around it.
type ClientTarget struct {
	Start StartClientFunc
	// Server is the running reference server.
	Server netip.AddrPort
	// Heartbeat and Misses are given to each client started; zero means
	// 500ms and 3.
	Heartbeat time.Duration
	Misses    int
	// CheckTimeout bounds each check (default DefaultTimeout); checks that
	// wait out a heartbeat timeout get heartbeat*(misses+1) on top.
	CheckTimeout time.Duration
	// Net is where fake peers listen and dial from (StartClientLab's
	// target has the lab's host "checker").
	Net Network
	// Dir holds the run's sockets and logs (default: a new temporary
	// directory, removed afterwards).
	Dir string
	// Path maps a path under Dir to the path the client under test sees
	// (nil: the same path; a container sees its host's folder elsewhere).
	Path func(outside string) string
}

// RunClient checks the client implementation against reqs (client
// requirements; others are ignored), one after the other, starting a fresh
// client for each check.
func RunClient(ctx context.Context, target ClientTarget, reqs []Requirement, onResult func(Result)) ([]Result, error) {
	if target.Heartbeat <= 0 {
		target.Heartbeat = 500 * time.Millisecond
	}
	if target.Misses <= 0 {
		target.Misses = 3
	}
	if target.Net == nil || target.Start == nil {
		return nil, fmt.Errorf("conform: a client target needs Start and Net (see StartClientLab)")
	}
	if target.Dir == "" {
		// Unix socket paths are short: keep the directory name short too.
		d, err := os.MkdirTemp("", "cf")
		if err != nil {
			return nil, fmt.Errorf("conform: run directory: %w", err)
		}
		defer os.RemoveAll(d)
		target.Dir = d
	}
	run := runID()
	var out []Result
	for i, r := range reqs {
		if r.client == nil {
			continue
		}
		dir := filepath.Join(target.Dir, fmt.Sprint(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return out, fmt.Errorf("conform: run directory: %w", err)
		}
		t := &clientT{ClientTarget: target, prefix: fmt.Sprintf("cf%s-%d", run, i), dir: dir}
		timeout := checkTimeout(r, target.CheckTimeout)
		if r.usesHeartbeat {
			timeout += target.Heartbeat * time.Duration(target.Misses+1)
		}
		res := runOne(ctx, r, timeout, func(ctx context.Context) error { return r.client(ctx, t) }, &t.cl)
		out = append(out, res)
		if onResult != nil {
			onResult(res)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return out, nil
}

// clientT is what a client check works with.
type clientT struct {
	ClientTarget
	prefix string
	dir    string
	cl     closers
	// peerCh passes a channel out of a startCUTWith setup function.
	peerCh *session
}

func (t *clientT) user(name string) string { return t.prefix + "-" + name }

// inside is path as the client under test sees it.
func (t *clientT) inside(path string) string {
	if t.Path == nil {
		return path
	}
	return t.Path(path)
}

// cut is the client under test, started for one check.
type cut struct {
	user string
	ctl  *api.Client
	run  ClientRun
	hc   *http.Client
	// events is what the client reported on GET /v1/events, collected in
	// the background from its start to the end of the check.
	events sim.EventLog
}

// startCUT starts the client under test and waits until its control API
// says it is online.
func (t *clientT) startCUT(ctx context.Context) (*cut, error) {
	return t.startCUTWith(ctx, t.Server, nil)
}

// startCUTWith starts the client under test with server as its server;
// serve, if not nil, plays that server's part until the client is online.
func (t *clientT) startCUTWith(ctx context.Context, server netip.AddrPort, serve func(context.Context) error) (*cut, error) {
	run := ClientRun{Server: server, User: t.user("cut"), Control: filepath.Join(t.dir, "ctl.sock"),
		Log: filepath.Join(t.dir, "p2pinfo.log"), Files: filepath.Join(t.dir, "files"),
		Heartbeat: t.Heartbeat, Misses: t.Misses}
	if err := os.MkdirAll(run.Files, 0o755); err != nil {
		return nil, fmt.Errorf("conform: files directory: %w", err)
	}
	stop, err := t.Start(ctx, run)
	if err != nil {
		return nil, fmt.Errorf("conform: start the client under test: %w", err)
	}
	t.cl.add(stop)
	c := &cut{user: run.User, ctl: api.NewClient(run.Control), run: run}
	c.hc = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", run.Control)
	}}}
	t.cl.add(func() { c.ctl.Close(); c.hc.CloseIdleConnections() })
	fctx, stopFollow := context.WithCancel(context.WithoutCancel(ctx))
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		c.events.Follow(fctx, c.ctl, nil, nil)
	}()
	t.cl.add(func() {
		stopFollow()
		<-followed
		// Kept with the check's log (LabOptions.Artifacts); best effort.
		if b, err := json.MarshalIndent(c.events.From(0), "", "  "); err == nil {
			_ = os.WriteFile(filepath.Join(t.dir, "events.json"), append(b, '\n'), 0o644)
		}
	})
	if serve != nil {
		if err := serve(ctx); err != nil {
			return nil, err
		}
		return c, nil
	}
	var st api.Status
	var lastErr error
	err = poll(ctx, func() (bool, error) {
		st, lastErr = c.ctl.Status(ctx)
		return lastErr == nil && st.Online, nil
	})
	if err != nil {
		return nil, failf("the client's control API at "+run.Control+" answers GET /v1/status with online:true", "status %+v, error %v", st, lastErr)
	}
	return c, nil
}

// noticeWait bounds heardOnline's wait.
const noticeWait = 3 * time.Second

// heardOnline waits, at most noticeWait, until the client under test has
// reported (its user_online event) the server's notice that peer is
// online. An acceptor may wait only 1 s for that notice before it refuses
// a channel from a user it does not know (docs/protocol.md 9.4, step 2),
// and a fake peer learns the client's endpoint at its own login, in a race
// with that notice: a dial sent before it would judge the machine's load,
// not the client. Without the event the dial goes ahead, and the check
// judges what the client does.
func (c *cut) heardOnline(ctx context.Context, peer string) {
	wctx, cancel := context.WithTimeout(ctx, noticeWait)
	defer cancel()
	c.events.Wait(wctx, 0, func(e api.Event) bool { return e.Type == api.EventUserOnline && e.UserID == peer })
}

// waitEvent waits for an event matching pred.
func (c *cut) waitEvent(ctx context.Context, want string, pred func(api.Event) bool) (api.Event, error) {
	if e, ok := c.events.Wait(ctx, 0, pred); ok {
		return e, nil
	}
	return api.Event{}, failf("event "+want, "events so far: %s", c.describeEvents())
}

// countEvents counts the events seen so far that match pred.
func (c *cut) countEvents(pred func(api.Event) bool) int {
	n := 0
	for _, e := range c.events.From(0) {
		if pred(e) {
			n++
		}
	}
	return n
}

func (c *cut) describeEvents() string {
	var parts []string
	for _, e := range c.events.From(0) {
		s := e.Type
		for _, kv := range [][2]string{{"userID", e.UserID}, {"peer", e.Peer}, {"from", e.From}, {"to", e.To}, {"messageID", e.MessageID}, {"via", e.Via}, {"reason", e.Reason}} {
			if kv[1] != "" {
				s += " " + kv[0] + "=" + kv[1]
			}
		}
		parts = append(parts, "{"+s+"}")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// fakePeer is a raw-frame user driven by a check: logged in to the
// reference server, optionally listening for P2P channels on its server
// connection's local endpoint, as a real client would.
type fakePeer struct {
	id  string
	srv *session
	ln  net.Listener
	acc chan *session
	// priv is the key of a v1.1 fake peer (docs/protocol.md 9.3); nil for
	// a v1 one.
	priv ed25519.PrivateKey
}

// fake logs in a fake peer; listen makes it accept P2P channels.
func (t *clientT) fake(ctx context.Context, name string, listen bool) (*fakePeer, error) {
	return t.fakeWith(ctx, name, listen, nil)
}

// fakeWith logs in a fake peer; with features (not nil) it is a v1.1 peer
// with those features and a fresh key (docs/protocol.md 9.1).
func (t *clientT) fakeWith(ctx context.Context, name string, listen bool, features []string) (*fakePeer, error) {
	id := t.user(name)
	// Reserve a port by listening on it first (an ephemeral port chosen by
	// connect may be shared with unrelated sockets, and binding it again
	// for a P2P dial would then fail), then dial the server from it.
	ln, err := t.Net.Listen(ctx, netip.AddrPortFrom(t.Net.Addr(), 0))
	if err != nil {
		return nil, fmt.Errorf("conform: fake peer %s: listen: %w", id, err)
	}
	c, err := t.Net.Dial(ctx, addrPortOf(ln.Addr()), t.Server)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("conform: fake peer %s: dial the reference server: %w", id, err)
	}
	p := &fakePeer{id: id, srv: newSession(id+" (server link)", c), acc: make(chan *session, 4)}
	t.cl.add(p.srv.Close)
	if !listen {
		_ = ln.Close() // dials to this fake are refused
	} else {
		p.ln = ln
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				s := newSession(id+" (channel from the client)", conn)
				t.cl.add(s.Close)
				select {
				case p.acc <- s:
				default:
					s.Close()
				}
			}
		}()
		t.cl.add(func() { _ = ln.Close(); wg.Wait() })
	}
	lg := protocol.Login{UserID: id}
	if features != nil {
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, fmt.Errorf("conform: fake peer %s: key: %w", id, err)
		}
		local := protocol.EndpointOf(p.srv.local())
		p.priv, lg.Features, lg.Key, lg.Local = priv, features, protocol.EncodeKey(pub), &local
	}
	if _, err := p.srv.request(protocol.TypeLogin, lg); err != nil {
		return nil, err
	}
	f, err := p.srv.expect(ctx, "LoginResult for the fake peer "+id, isLoginAnswer)
	if err != nil {
		return nil, err
	}
	if !body[protocol.LoginResult](f).OK {
		return nil, fmt.Errorf("conform: the reference server refused fake peer %s: %s", id, describe(f))
	}
	p.srv.keepAlive(t.Heartbeat / 2)
	return p, nil
}

// endpointOf asks the server for user's advertised endpoint.
func (p *fakePeer) endpointOf(ctx context.Context, user string) (netip.AddrPort, error) {
	users, err := listUsers(ctx, p.srv)
	if err != nil {
		return netip.AddrPort{}, err
	}
	for _, u := range users {
		if u.UserID == user {
			if ep, ok := (protocol.Endpoint{IP: u.IP, Port: u.Port}).AddrPort(); ok {
				return ep, nil
			}
		}
	}
	return netip.AddrPort{}, fmt.Errorf("conform: the reference server does not list %s: %s", user, listOf(users))
}

// dialChannel opens a P2P channel from the fake peer to the client under
// test (from the fake's own endpoint) and sends SetupP2PMessage.
func (t *clientT) dialChannel(ctx context.Context, p *fakePeer, c *cut) (*session, error) {
	s, err := t.rawDial(ctx, p, c, p.srv.local())
	if err != nil {
		return nil, err
	}
	if err := s.notice(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: p.id}); err != nil {
		return nil, err
	}
	return s, nil
}

// rawDial connects from local (zero: any port) to the client under test's
// advertised endpoint, and sends nothing.
func (t *clientT) rawDial(ctx context.Context, p *fakePeer, c *cut, local netip.AddrPort) (*session, error) {
	ep, err := p.endpointOf(ctx, c.user)
	if err != nil {
		return nil, err
	}
	c.heardOnline(ctx, p.id)
	conn, err := t.Net.Dial(ctx, local, ep)
	if err != nil {
		return nil, failf("the client under test accepts a P2P connection at its advertised endpoint "+ep.String(), "dial: %v", err)
	}
	s := newSession(p.id+" (channel to the client)", conn)
	t.cl.add(s.Close)
	return s, nil
}

// accepted waits for the client under test to open a channel to p.
func (p *fakePeer) accepted(ctx context.Context) (*session, error) {
	select {
	case s := <-p.acc:
		return s, nil
	case <-ctx.Done():
		return nil, failf("the client under test opens a P2P channel to "+p.id, "no connection before the deadline")
	}
}

// waitChannel polls GET /v1/channels until pred holds for the list.
func (c *cut) waitChannels(ctx context.Context, want string, pred func([]api.Channel) bool) ([]api.Channel, error) {
	var chs []api.Channel
	var lastErr error
	err := poll(ctx, func() (bool, error) {
		chs, lastErr = c.ctl.Channels(ctx)
		return lastErr == nil && pred(chs), nil
	})
	if err != nil {
		return chs, failf("GET /v1/channels: "+want, "%+v (error: %v)", chs, lastErr)
	}
	return chs, nil
}

func hasPeer(chs []api.Channel, peer string) bool {
	for _, ch := range chs {
		if ch.Peer == peer {
			return true
		}
	}
	return false
}
