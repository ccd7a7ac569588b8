package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
)

// Control API limits.
const (
	maxWait        = 60 * time.Second // longest long-poll
	maxEventsBatch = 1000             // most events in one answer
	maxBody        = 1 << 20          // largest request body

	// HTTP server bounds (docs/control-api.md, trust model): a request
	// must arrive within ctlReadTimeout, an answer (the longest is a
	// long-poll of maxWait) within ctlWriteTimeout; idle keep-alive
	// connections close after ctlIdleTimeout.
	ctlReadTimeout  = 30 * time.Second
	ctlWriteTimeout = maxWait + 15*time.Second
	ctlIdleTimeout  = 2 * time.Minute
	ctlMaxHeader    = 64 << 10
)

// routes is the control API (docs/control-api.md).
func (c *Client) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", c.hStatus)
	mux.HandleFunc("GET /v1/channels", c.hChannels)
	mux.HandleFunc("GET /v1/channels/{peer}", c.hChannel)
	mux.HandleFunc("POST /v1/chat", c.hChat)
	mux.HandleFunc("POST /v1/files", c.hFiles)
	mux.HandleFunc("POST /v1/connect", c.hConnect)
	mux.HandleFunc("GET /v1/events", c.hEvents)
	mux.HandleFunc("GET /v1/log", c.hLog)
	mux.HandleFunc("POST /v1/logout", c.hLogout)
	mux.HandleFunc("POST /v1/quit", c.hQuit)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			// distinguish a wrong method from an unknown path
			for _, m := range []string{http.MethodGet, http.MethodPost} {
				r2 := r.Clone(r.Context())
				r2.Method = m
				if _, p := mux.Handler(r2); p != "" {
					w.Header().Set("Allow", m)
					writeErr(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s (use %s)", r.Method, r.URL.Path, m))
					return
				}
			}
			writeErr(w, http.StatusNotFound, "no such route: "+r.URL.Path)
			return
		}
		mux.ServeHTTP(w, r) // (not the Handler's h: only ServeHTTP sets PathValue)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, api.ErrorBody{Error: msg})
}

// decode reads a JSON request body into v, rejecting unknown fields.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := "body: " + err.Error()
		if errors.Is(err, io.EOF) {
			msg = "body: a JSON object is required"
		}
		writeErr(w, http.StatusBadRequest, msg)
		return false
	}
	if dec.More() {
		writeErr(w, http.StatusBadRequest, "body: trailing data after the JSON object")
		return false
	}
	return true
}

// Status returns what GET /v1/status answers.
func (c *Client) Status() api.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	// After a logout the server link may take a moment to wind down: the
	// client is not online from the moment it logged out.
	s := api.Status{UserID: c.cfg.UserID, Online: c.srv != nil && !c.loggedOut, Server: c.cfg.Server.String(), Limits: c.limits.snapshot()}
	if c.listen.IsValid() {
		s.Listen = c.listen.String()
	}
	return s
}

func (c *Client) hStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, c.Status())
}

func (c *Client) hChannels(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, api.Channels{Channels: c.channelList()})
}

// ErrPeerOffline is returned by Connect for a peer with no known endpoint.
var ErrPeerOffline = errors.New("not online")

// ErrDialFailed is returned by Connect when the dial to the peer failed.
var ErrDialFailed = errors.New("dial failed")

// errStatus maps an error of a send or a connect to the HTTP status the
// control API answers with (docs/control-api.md, errors). Anything not
// named here is the caller's bad input.
func errStatus(err error) int {
	switch {
	case errors.Is(err, ErrNoPath):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrLimit):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrLoggedOut), errors.Is(err, ErrStopping):
		return http.StatusConflict
	case errors.Is(err, ErrPeerOffline):
		return http.StatusNotFound
	case errors.Is(err, ErrDialFailed):
		return http.StatusBadGateway
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

func (c *Client) hChat(w http.ResponseWriter, r *http.Request) {
	var req api.ChatRequest
	if !decode(w, r, &req) {
		return
	}
	if req.To == "" {
		writeErr(w, http.StatusBadRequest, "to: required")
		return
	}
	id, via, err := c.SendChat(req.To, req.Content)
	if err != nil {
		writeErr(w, errStatus(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, api.ChatResponse{MessageID: id, Via: via})
}

func (c *Client) hFiles(w http.ResponseWriter, r *http.Request) {
	var req api.FileRequest
	if !decode(w, r, &req) {
		return
	}
	if req.To == "" {
		writeErr(w, http.StatusBadRequest, "to: required")
		return
	}
	id, via, err := c.SendFile(req.To, req.Path)
	if err != nil {
		writeErr(w, errStatus(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, api.FileResponse{TransferID: id, Via: via})
}

func (c *Client) hConnect(w http.ResponseWriter, r *http.Request) {
	var req api.ConnectRequest
	if !decode(w, r, &req) {
		return
	}
	ch, err := c.Connect(r.Context(), req.Peer)
	if err != nil {
		writeErr(w, errStatus(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, api.ConnectResponse{Channel: ch})
}

// Connect opens a channel to peer now (or returns the open one). Its
// errors match ErrLoggedOut, ErrPeerOffline, ErrDialFailed or a context
// error; any other is bad input.
func (c *Client) Connect(ctx context.Context, peer string) (api.Channel, error) {
	switch {
	case peer == "":
		return api.Channel{}, errors.New("peer: required")
	case !protocol.ValidUserID(peer):
		return api.Channel{}, fmt.Errorf("peer: %q is not a valid user ID", peer)
	case peer == c.cfg.UserID:
		return api.Channel{}, errors.New("peer: cannot connect to yourself")
	}
	c.mu.Lock()
	ch := c.chans[peer]
	ep, known := c.users[peer]
	out := c.loggedOut
	var cur api.Channel
	if ch != nil {
		cur = ch.api()
	}
	c.mu.Unlock()
	if out {
		return api.Channel{}, ErrLoggedOut
	}
	if ch != nil && !ch.l.closed() {
		return cur, nil
	}
	if !known {
		return api.Channel{}, fmt.Errorf("peer: %s is %w (no endpoint known)", peer, ErrPeerOffline)
	}
	nch, err := c.connectPeer(ctx, peer, ep)
	if errors.Is(err, errOtherPathWon) {
		// the peer's crossing dial holds the connection: wait for it
		deadline := time.Now().Add(c.cfg.DialTimeout)
		for time.Now().Before(deadline) {
			c.mu.Lock()
			ch := c.chans[peer]
			if ch != nil {
				cur = ch.api()
			}
			c.mu.Unlock()
			if ch != nil {
				return cur, nil
			}
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				return api.Channel{}, fmt.Errorf("connect %s: %w", peer, ctx.Err())
			}
		}
	}
	if err != nil {
		return api.Channel{}, fmt.Errorf("connect %s at %s: %w: %s", peer, ep, ErrDialFailed, shortErr(err))
	}
	c.mu.Lock()
	cur = nch.api()
	c.mu.Unlock()
	return cur, nil
}

func (c *Client) hEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after int64
	if s := q.Get("after"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			writeErr(w, http.StatusBadRequest, fmt.Sprintf("after: %q is not a non-negative integer", s))
			return
		}
		after = v
	}
	var wait time.Duration
	if s := q.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			writeErr(w, http.StatusBadRequest, fmt.Sprintf("wait: %q is not a non-negative duration like 5s", s))
			return
		}
		wait = min(d, maxWait)
	}
	limit := maxEventsBatch
	if s := q.Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			writeErr(w, http.StatusBadRequest, fmt.Sprintf("limit: %q is not a positive integer", s))
			return
		}
		limit = min(v, maxEventsBatch)
	}
	evs := c.events.wait(r.Context(), after, wait, limit)
	writeJSON(w, http.StatusOK, api.Events{Events: evs})
}

func (c *Client) hLog(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, c.plog.String())
}

func (c *Client) hLogout(w http.ResponseWriter, _ *http.Request) {
	c.logout()
	writeJSON(w, http.StatusOK, struct{}{})
}

func (c *Client) hQuit(w http.ResponseWriter, _ *http.Request) {
	c.logout()
	writeJSON(w, http.StatusOK, struct{}{})
	c.Quit()
}

// Events returns the events after seq (for in-process users and tests).
func (c *Client) Events(after int64) []api.Event {
	evs, _ := c.events.after(after, maxEvents)
	return evs
}

func sortChannels(cs []api.Channel) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].Peer < cs[j].Peer })
}
