package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
)

// maxListeners is how many listeners (the current one and older ones from
// before a server reconnect with a new port) a client keeps open.
const maxListeners = 4

// Client is one headless p2plab client. Create it with New, then call Run.
type Client struct {
	cfg    Config
	log    *slog.Logger
	events *eventLog
	plog   *p2pLog
	token  string // random per run: makes messageIDs unique across restarts

	ctlLn   net.Listener
	ctlAddr string

	ready     chan struct{}
	readyOnce sync.Once
	quit      chan struct{}
	quitOnce  sync.Once
	wg        sync.WaitGroup // every goroutine the client starts

	runCtx context.Context // set by Run before any goroutine starts
	pulse  *pulse          // heartbeats and liveness of every link

	mu           sync.Mutex
	srv          *link // current server link (nil if not logged in)
	loggedOut    bool
	stopped      bool // Run is shutting down: start nothing new
	listen       netip.AddrPort
	listeners    []net.Listener
	inbound      map[net.Conn]struct{} // accepted, first frame not read yet
	chans        map[string]*channel
	users        map[string]netip.AddrPort  // online users' advertised endpoints
	info         map[string]protocol.Peer11 // their v1.1 members (docs/protocol.md 9.1)
	usersChanged chan struct{}              // closed and replaced when users change
	srv11        server11                   // what the server said at the last login
	priv         ed25519.PrivateKey         // this run's identity (docs/protocol.md 9.3)
	refusedSince time.Time                  // first already_online refusal of the first login
	cert         tls.Certificate            // priv\'s self-signed certificate for QUIC (9.8)
	udp          *udpState                  // the UDP socket, with punching (9.5)
	punches      map[string]*punchRun       // coordinated punches by peer (9.6)
	pending      map[string]*pendingChat    // unacknowledged messages by messageID
	pendingTo    map[string]int             // their count by receiver (bounds.go)
	pendingBytes int                        // their content bytes
	limits       limitCounts                // bound hits by limit name (bounds.go)
	seenForgot   bool                       // the duplicate filter just forgot its oldest half
	seen         map[string]struct{}        // received from+"\x00"+messageID
	seenOrder    []string                   // seen keys, oldest first (bounds.go)
	nextMsg      int64
	sends        map[string]*fileSend // outgoing transfers by transferID
	recvs        map[string]*fileRecv // incoming transfers by from+"\x00"+transferID
}

// channel is one P2P channel in the table.
type channel struct {
	peer      string
	initiator string
	local     netip.AddrPort
	remote    netip.AddrPort
	openedAt  time.Time
	l         *link
	dialed    bool
	transport string // protocol.TransportTCP or TransportUDP
	method    string // how it was made (docs/protocol.md 9.7)
}

func (ch *channel) api() api.Channel {
	return api.Channel{Peer: ch.peer, Transport: ch.transport, Method: ch.method, Local: ch.local.String(),
		Remote: ch.remote.String(), Initiator: ch.initiator, OpenedAt: ch.openedAt}
}

func (ch *channel) openedEvent() api.Event {
	return api.Event{Type: api.EventChannelOpened, Peer: ch.peer, Initiator: ch.initiator,
		Transport: ch.transport, Method: ch.method}
}

// New checks cfg, opens the P2PInfo log and binds the control endpoint (so
// ControlAddr is known at once). Nothing else starts before Run.
func New(cfg Config) (*Client, error) {
	cfg.setDefaults()
	if !protocol.ValidUserID(cfg.UserID) {
		return nil, fmt.Errorf("client: user ID %q: want 1-64 of A-Za-z0-9._-", cfg.UserID)
	}
	if !cfg.Server.IsValid() || cfg.Server.Port() == 0 {
		return nil, fmt.Errorf("client: server address %q is not IP:PORT", cfg.Server)
	}
	// made is a files dir New created; a failing New removes it again.
	made := ""
	fail := func(err error) (*Client, error) {
		if made != "" {
			_ = os.RemoveAll(made)
		}
		return nil, err
	}
	if cfg.FilesDir == "" {
		d, err := os.MkdirTemp("", "p2plab-files-"+cfg.UserID+"-")
		if err != nil {
			return nil, fmt.Errorf("client: files dir: %w", err)
		}
		cfg.FilesDir, made = d, d
	} else if err := os.MkdirAll(cfg.FilesDir, 0o755); err != nil {
		return nil, fmt.Errorf("client: files dir: %w", err)
	}
	var tok [4]byte
	_, _ = rand.Read(tok[:])
	c := &Client{
		cfg:          cfg,
		log:          cfg.Logger.With("user", cfg.UserID),
		events:       newEventLog(),
		token:        hex.EncodeToString(tok[:]),
		ready:        make(chan struct{}),
		quit:         make(chan struct{}),
		chans:        map[string]*channel{},
		users:        map[string]netip.AddrPort{},
		info:         map[string]protocol.Peer11{},
		usersChanged: make(chan struct{}),
		pending:      map[string]*pendingChat{},
		pendingTo:    map[string]int{},
		seen:         map[string]struct{}{},
		sends:        map[string]*fileSend{},
		recvs:        map[string]*fileRecv{},
		inbound:      map[net.Conn]struct{}{},
		runCtx:       context.Background(),
		pulse:        newPulse(cfg.Heartbeat),
	}
	_, c.priv, _ = ed25519.GenerateKey(nil)
	cert, err := selfCert(c.priv)
	if err != nil {
		return fail(fmt.Errorf("client: certificate: %w", err))
	}
	c.cert = cert
	c.punches = map[string]*punchRun{}
	pl, err := openP2PLog(cfg.LogPath)
	if err != nil {
		return fail(err)
	}
	c.plog = pl
	pl.limit = c.boundHit
	if cfg.Control != "" {
		ln, err := listenControl(cfg.Control)
		if err != nil {
			pl.close()
			return fail(err)
		}
		c.ctlLn = ln
		c.ctlAddr = cfg.Control
		if ln.Addr().Network() == "tcp" {
			c.ctlAddr = ln.Addr().String()
		}
	}
	return c, nil
}

func listenControl(endpoint string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(endpoint, "unix:"); ok || strings.Contains(endpoint, "/") {
		if !ok {
			path = endpoint
		}
		return listenUnixPrivate(path)
	}
	ap, err := netip.ParseAddrPort(endpoint)
	if err != nil {
		return nil, fmt.Errorf("client: control API endpoint %q: want a unix socket path or IP:PORT: %w", endpoint, err)
	}
	ln, err := net.Listen("tcp", ap.String())
	if err != nil {
		return nil, fmt.Errorf("client: control API: %w", err)
	}
	return ln, nil
}

// Ready is closed once the client has logged in, listens on its P2P
// endpoint and has received the first list of online users (its dials to
// them have started, not necessarily finished).
func (c *Client) Ready() <-chan struct{} { return c.ready }

// ControlAddr returns the control endpoint actually bound: the socket path,
// or IP:PORT with the real port. It is "" without a control API.
func (c *Client) ControlAddr() string { return c.ctlAddr }

// Listen returns the endpoint the client listens on for P2P channels (the
// local endpoint of its current server connection); zero before login.
func (c *Client) Listen() netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.listen
}

// UserID returns the client's user ID.
func (c *Client) UserID() string { return c.cfg.UserID }

// Quit stops Run, logging out first (like POST /v1/quit).
func (c *Client) Quit() {
	c.quitOnce.Do(func() { close(c.quit) })
}

// Run runs the client until ctx is done, Quit (or POST /v1/quit) is called,
// or a fatal error occurs (the server refused the first login). On the way
// out it logs out, closes every channel and the control API. A refused
// first login is returned as an error; ctx cancellation and quit return nil.
func (c *Client) Run(parent context.Context) error {
	// The client's own goroutines run on ctx, which is cancelled only after
	// logout: a cancelled parent must not cut the server session before the
	// Logout frame is sent and the channels are marked as closed by logout
	// (otherwise a peer's close can reach a channel first, logged as
	// "connection lost").
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	defer cancel()
	c.runCtx = ctx

	var hs *http.Server
	hsDone := make(chan struct{})
	if c.ctlLn != nil {
		hs = &http.Server{Handler: c.routes(), BaseContext: func(net.Listener) context.Context { return ctx },
			ReadHeaderTimeout: 10 * time.Second, ReadTimeout: ctlReadTimeout, WriteTimeout: ctlWriteTimeout,
			IdleTimeout: ctlIdleTimeout, MaxHeaderBytes: ctlMaxHeader}
		go func() {
			defer close(hsDone)
			_ = hs.Serve(c.ctlLn)
		}()
	} else {
		close(hsDone)
	}

	errc := make(chan error, 1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		errc <- c.serverLoop(ctx)
	}()

	var err error
	select {
	case <-parent.Done():
	case <-c.quit:
	case err = <-errc:
		if err == nil {
			// logged out: keep serving the control API until told to stop
			select {
			case <-parent.Done():
			case <-c.quit:
			}
		}
	}
	c.logout()
	c.mu.Lock()
	c.stopped = true
	for _, ln := range c.listeners {
		ln.Close()
	}
	for conn := range c.inbound {
		conn.Close()
	}
	c.mu.Unlock()
	c.closeUDP()
	cancel()
	c.wg.Wait()
	c.pulse.wait()
	c.abortTransfers()
	if hs != nil {
		sctx, scancel := context.WithTimeout(context.Background(), time.Second)
		_ = hs.Shutdown(sctx)
		scancel()
		hs.Close()
		<-hsDone
		if path, ok := unixPath(c.ctlAddr); ok {
			_ = os.Remove(path)
		}
	}
	if cerr := c.plog.close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

func unixPath(endpoint string) (string, bool) {
	if p, ok := strings.CutPrefix(endpoint, "unix:"); ok {
		return p, true
	}
	return endpoint, strings.Contains(endpoint, "/")
}

// emit records an event.
func (c *Client) emit(e api.Event) { c.events.add(e) }

// logEntry writes one P2PInfo log line.
func (c *Client) logEntry(e protocol.LogEntry) { c.plog.write(e) }

// goTracked starts f on a goroutine Run waits for.
func (c *Client) goTracked(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// logout leaves the server and closes every channel with reason "logout".
// Later calls do nothing.
func (c *Client) logout() {
	c.mu.Lock()
	if c.loggedOut {
		c.mu.Unlock()
		return
	}
	c.loggedOut = true
	for _, ln := range c.listeners {
		ln.Close()
	}
	srv := c.srv
	chans := make([]*channel, 0, len(c.chans))
	for _, ch := range c.chans {
		chans = append(chans, ch)
	}
	c.mu.Unlock()
	for _, ch := range chans {
		ch.l.closeAs(protocol.ReasonLogout)
	}
	// Logout first: the server tells the peers (UserStateNotify offline)
	// before they see the channels go, so they close with "peer offline".
	if srv != nil {
		if srv.send(protocol.Frame{Type: protocol.TypeLogout}) == nil {
			select { // the server closes after Logout; give it a moment
			case <-srv.done:
			case <-time.After(time.Second):
			}
		}
		srv.close(protocol.ReasonLogout)
	}
	for _, ch := range chans {
		ch.l.close(protocol.ReasonLogout)
	}
	c.emit(api.Event{Type: api.EventLogout, UserID: c.cfg.UserID})
}

// shortErr turns a dial error into a short reason for the P2PInfo log.
func shortErr(err error) string {
	var se *os.SyscallError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return se.Err.Error()
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
