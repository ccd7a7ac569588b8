package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/internal/reuseport"
	"github.com/p2plab/p2plab/protocol"
)

// LoginError is a login the server refused (LoginResult ok=false or an
// Error frame). It is fatal for the first login only.
type LoginError struct {
	Code, Message string
	// window is the server's teardown window (heartbeat x (misses+1)) from
	// a v1.1 LoginResult, 0 if unknown.
	window time.Duration
}

func (e *LoginError) Error() string {
	return fmt.Sprintf("client: login refused: %s: %s", e.Code, e.Message)
}

// serverLoop keeps the client logged in: it dials, logs in, serves the
// server connection and, when it drops, tries again with capped, jittered
// exponential backoff. Only a refused first login ends it with an error.
func (c *Client) serverLoop(ctx context.Context) error {
	backoff := c.cfg.ReconnectMin
	everIn := false
	for {
		c.mu.Lock()
		out := c.loggedOut
		c.mu.Unlock()
		if out || ctx.Err() != nil {
			return nil
		}
		loggedIn, err := c.session(ctx, everIn)
		if ctx.Err() != nil {
			return nil
		}
		var le *LoginError
		if err != nil && errors.As(err, &le) && !everIn && !c.retryRefusal(le) {
			return err
		}
		if err != nil {
			c.log.Info("server session ended", "err", err)
		}
		if loggedIn {
			everIn = true
			backoff = c.cfg.ReconnectMin
		}
		// full jitter in [backoff/2, backoff]
		d := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil
		}
		backoff *= 2
		if backoff > c.cfg.ReconnectMax {
			backoff = c.cfg.ReconnectMax
		}
	}
}

// dialServer dials the server with SO_REUSEADDR+SO_REUSEPORT, from the
// previous listen endpoint when there is one (so the advertised endpoint
// stays the same), else from a fresh ephemeral port.
func (c *Client) dialServer(ctx context.Context) (net.Conn, error) {
	c.mu.Lock()
	prev := c.listen
	c.mu.Unlock()
	d := net.Dialer{Control: reuseport.Control, Timeout: c.cfg.DialTimeout}
	if prev.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(prev)
		conn, err := d.DialContext(ctx, "tcp", c.cfg.Server.String())
		if err == nil {
			return conn, nil
		}
		d.LocalAddr = nil
	}
	conn, err := d.DialContext(ctx, "tcp", c.cfg.Server.String())
	if err != nil {
		return nil, fmt.Errorf("client: dial server %s: %w", c.cfg.Server, err)
	}
	return conn, nil
}

// ensureListener listens on ep (reusing the listener already there) and
// starts its accept loop.
func (c *Client) ensureListener(ctx context.Context, ep netip.AddrPort) error {
	c.mu.Lock()
	for _, ln := range c.listeners {
		if addrPortOf(ln.Addr()) == ep {
			c.mu.Unlock()
			return nil
		}
	}
	c.mu.Unlock()
	lc := net.ListenConfig{Control: reuseport.Control}
	ln, err := lc.Listen(ctx, "tcp", ep.String())
	if err != nil {
		return fmt.Errorf("client: listen on %s: %w", ep, err)
	}
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		ln.Close()
		return errors.New("client: stopping")
	}
	c.listeners = append(c.listeners, ln)
	if len(c.listeners) > maxListeners {
		c.listeners[0].Close()
		c.listeners = c.listeners[1:]
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		c.acceptLoop(ln)
	}()
	return nil
}

// session runs one server connection: dial, listen, login, serve. It
// reports whether the login succeeded.
func (c *Client) session(ctx context.Context, relogin bool) (bool, error) {
	// The kernel may give the connection an ephemeral port that another
	// outgoing connection (without SO_REUSEADDR) shares; then listening on
	// it fails with "address already in use". Dial again: a new port.
	var conn net.Conn
	var local netip.AddrPort
	for attempt := 1; ; attempt++ {
		var err error
		conn, err = c.dialServer(ctx)
		if err != nil {
			return false, err
		}
		local = addrPortOf(conn.LocalAddr())
		err = c.ensureListener(ctx, local)
		if err == nil {
			break
		}
		conn.Close()
		if attempt == 5 {
			return false, err
		}
		c.mu.Lock()
		if c.listen == local {
			c.listen = netip.AddrPort{} // do not insist on that port
		}
		c.mu.Unlock()
	}
	r := protocol.NewReader(bufio.NewReaderSize(conn, 64<<10))
	stopLogin := context.AfterFunc(ctx, func() { conn.Close() })
	err := c.login(conn, r)
	stopLogin()
	if err != nil {
		conn.Close()
		return false, err
	}
	l := newLink(conn, r, c.pulse, c.cfg.Misses)
	l.lead = true
	l.nextID.Store(1) // Login used id 1
	c.mu.Lock()
	if c.loggedOut || c.stopped {
		c.mu.Unlock()
		conn.Close()
		return false, nil
	}
	c.srv = l
	c.listen = local
	c.mu.Unlock()
	if err := c.startUDP(local); err != nil {
		c.log.Warn("no UDP punching", "err", err)
	}
	c.emit(api.Event{Type: api.EventLogin, UserID: c.cfg.UserID})
	if relogin {
		c.emit(api.Event{Type: api.EventServerRestored})
	}
	c.log.Info("logged in", "listen", local, "server", c.cfg.Server)
	_ = l.send(protocol.Frame{Type: protocol.TypeGetP2PInfo, ID: l.id()})
	// Ready waits for the first ResP2pInfo (see onP2PInfo), so the users
	// online at login are known and dialed; a server that never answers
	// only delays it.
	readyTimer := time.AfterFunc(c.cfg.DialTimeout, c.setReady)
	defer func() {
		// A session that ends before its first ResP2pInfo counts as a
		// server that never answered it: the client did log in, so Ready
		// must not wait for a later session.
		if readyTimer.Stop() {
			c.setReady()
		}
	}()
	c.resendWaiting()

	stop := context.AfterFunc(ctx, func() { l.close(protocol.ReasonConnectionLost) })
	reason := l.run(func(f protocol.Frame) error { return c.onServerFrame(l, f) })
	stop()

	c.mu.Lock()
	if c.srv == l {
		c.srv = nil
	}
	out := c.loggedOut
	for _, p := range c.pending {
		if p.relay == l {
			p.relay = nil
			p.waiting = true
		}
	}
	c.mu.Unlock()
	c.sendAbortLink(l)
	c.recvAbortLink(l)
	if !out && ctx.Err() == nil {
		c.emit(api.Event{Type: api.EventServerLost, Reason: reason})
		c.log.Info("server lost", "reason", reason)
	}
	return true, nil
}

// login sends Login and waits for its LoginResult.
func (c *Client) login(conn net.Conn, r *protocol.Reader) error {
	deadline := time.Now().Add(c.cfg.DialTimeout + c.cfg.Heartbeat*time.Duration(c.cfg.Misses))
	_ = conn.SetDeadline(deadline)
	defer conn.SetDeadline(time.Time{})
	f := protocol.MustFrame(protocol.TypeLogin, c.loginBody(addrPortOf(conn.LocalAddr())))
	f.ID = 1
	if err := protocol.WriteFrame(conn, f); err != nil {
		return fmt.Errorf("client: send Login: %w", err)
	}
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return fmt.Errorf("client: read LoginResult: %w", err)
		}
		switch f.Type {
		case protocol.TypeLoginResult:
			var res protocol.LoginResult
			if err := f.DecodeBody(&res); err != nil {
				return err
			}
			if !res.OK {
				return &LoginError{Code: res.Error, Message: "LoginResult ok=false", window: teardownWindow(res)}
			}
			c.loggedIn11(res)
			return nil
		case protocol.TypeError:
			var e protocol.Error
			_ = f.DecodeBody(&e)
			return &LoginError{Code: e.Code, Message: e.Message}
		}
	}
}

// onServerFrame handles one frame from the server.
func (c *Client) onServerFrame(l *link, f protocol.Frame) error {
	switch f.Type {
	case protocol.TypeResP2pInfo:
		var res protocol.ResP2pInfo
		if err := f.DecodeBody(&res); err != nil {
			return err
		}
		c.onP2PInfo(res)
	case protocol.TypeUserStateNotify:
		var n protocol.UserStateNotify
		if err := f.DecodeBody(&n); err != nil {
			return err
		}
		c.onUserState(n)
	case protocol.TypeChatMessage:
		var m protocol.Chat
		if err := f.DecodeBody(&m); err != nil {
			return err
		}
		c.receiveChat(m, api.ViaRelay, l)
	case protocol.TypeChatAck:
		var a protocol.ChatAck
		if err := f.DecodeBody(&a); err != nil {
			return err
		}
		c.onAck(a, api.ViaRelay)
	case protocol.TypeFileOffer, protocol.TypeFileChunk, protocol.TypeFileDone, protocol.TypeFileResult:
		return c.onFile(f, api.ViaRelay, "", l, nil)
	case protocol.TypePunchConnect, protocol.TypePunchSync:
		c.onPunchFrame(f)
	case protocol.TypeError:
		var e protocol.Error
		if err := f.DecodeBody(&e); err != nil {
			return err
		}
		c.onServerError(e)
	}
	return nil
}

// onP2PInfo records the online users and opens a channel to every one the
// client has no channel with (the newcomer initiates).
func (c *Client) onP2PInfo(res protocol.ResP2pInfo) {
	type target struct {
		id string
		ep netip.AddrPort
	}
	var dial []target
	c.mu.Lock()
	for _, u := range res.Users {
		if !protocol.ValidUserID(u.UserID) || u.UserID == c.cfg.UserID {
			continue
		}
		ep, ok := protocol.Endpoint{IP: u.IP, Port: u.Port}.AddrPort()
		if !ok {
			continue
		}
		c.users[u.UserID] = ep
		c.info[u.UserID] = u.Peer11
		if c.chans[u.UserID] == nil {
			dial = append(dial, target{u.UserID, ep})
		}
	}
	c.usersUpdatedLocked()
	c.mu.Unlock()
	for _, t := range dial {
		c.goTracked(func() { c.owedChannel(c.runCtx, t.id, t.ep) })
	}
	c.setReady()
}

// setReady closes the Ready channel (once).
func (c *Client) setReady() { c.readyOnce.Do(func() { close(c.ready) }) }

// onUserState handles UserStateNotify: a user coming online only makes an
// event (the newcomer dials); one going offline loses its channel.
func (c *Client) onUserState(n protocol.UserStateNotify) {
	if !protocol.ValidUserID(n.UserID) || n.UserID == c.cfg.UserID {
		return
	}
	if n.OnLine {
		c.mu.Lock()
		if ep, ok := (protocol.Endpoint{IP: n.IP, Port: n.Port}).AddrPort(); ok {
			c.users[n.UserID] = ep
			c.info[n.UserID] = n.Peer11
			c.usersUpdatedLocked()
		}
		c.mu.Unlock()
		c.emit(api.Event{Type: api.EventUserOnline, UserID: n.UserID})
		return
	}
	c.mu.Lock()
	delete(c.users, n.UserID)
	delete(c.info, n.UserID)
	ch := c.chans[n.UserID]
	c.mu.Unlock()
	c.emit(api.Event{Type: api.EventUserOffline, UserID: n.UserID})
	c.recvAbortFrom(n.UserID)
	if ch != nil {
		ch.l.close(protocol.ReasonPeerOffline)
	}
}

// onServerError handles an Error from the server: user_offline refuses a
// message or a transfer.
func (c *Client) onServerError(e protocol.Error) {
	if e.Code != protocol.CodeUserOffline {
		c.log.Warn("server error", "code", e.Code, "message", e.Message)
		return
	}
	if e.MessageID != "" {
		c.chatFailed(e.MessageID, e.Code)
	}
	if e.TransferID != "" {
		c.sendFailed(e.TransferID, e.Code)
	}
}
