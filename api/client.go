package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls a client program's control API. It is safe for concurrent use.
type Client struct {
	endpoint string
	base     string
	hc       *http.Client
}

// NewClient returns a Client for the control endpoint: a unix socket path
// (anything containing a '/', or "unix:PATH") or a TCP address "IP:PORT".
func NewClient(endpoint string) *Client {
	c := &Client{endpoint: endpoint}
	tr := &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}
	if path, ok := unixPath(endpoint); ok {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		c.base = "http://control"
	} else {
		c.base = "http://" + endpoint
	}
	c.hc = &http.Client{Transport: tr}
	return c
}

func unixPath(endpoint string) (string, bool) {
	if p, ok := strings.CutPrefix(endpoint, "unix:"); ok {
		return p, true
	}
	return endpoint, strings.Contains(endpoint, "/")
}

// Endpoint returns the endpoint the client was made for.
func (c *Client) Endpoint() string { return c.endpoint }

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// StatusError is a 4xx/5xx answer of either API.
type StatusError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("api: %s %s: %d: %s", e.Method, e.Path, e.Status, e.Message)
}

func do(ctx context.Context, hc *http.Client, base, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("api: %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("api: %s %s: read: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		var eb ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(data))
		}
		return &StatusError{Method: method, Path: path, Status: resp.StatusCode, Message: eb.Error}
	}
	if out == nil {
		return nil
	}
	if s, ok := out.(*string); ok {
		*s = string(data)
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("api: %s %s: decode: %w", method, path, err)
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	return do(ctx, c.hc, c.base, method, path, in, out)
}

// Status calls GET /v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	return s, c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
}

// Channels calls GET /v1/channels.
func (c *Client) Channels(ctx context.Context) ([]Channel, error) {
	var cs Channels
	err := c.do(ctx, http.MethodGet, "/v1/channels", nil, &cs)
	return cs.Channels, err
}

// Channel calls GET /v1/channels/{peer}: the channel to peer, or one with
// Transport TransportNone.
func (c *Client) Channel(ctx context.Context, peer string) (Channel, error) {
	var ch Channel
	return ch, c.do(ctx, http.MethodGet, "/v1/channels/"+url.PathEscape(peer), nil, &ch)
}

// Chat calls POST /v1/chat.
func (c *Client) Chat(ctx context.Context, to, content string) (ChatResponse, error) {
	var r ChatResponse
	return r, c.do(ctx, http.MethodPost, "/v1/chat", ChatRequest{To: to, Content: content}, &r)
}

// SendFile calls POST /v1/files.
func (c *Client) SendFile(ctx context.Context, to, path string) (FileResponse, error) {
	var r FileResponse
	return r, c.do(ctx, http.MethodPost, "/v1/files", FileRequest{To: to, Path: path}, &r)
}

// Connect calls POST /v1/connect.
func (c *Client) Connect(ctx context.Context, peer string) (Channel, error) {
	var r ConnectResponse
	return r.Channel, c.do(ctx, http.MethodPost, "/v1/connect", ConnectRequest{Peer: peer}, &r)
}

// Events calls GET /v1/events: the events after seq after, waiting up to wait
// for at least one (wait 0 answers at once).
func (c *Client) Events(ctx context.Context, after int64, wait time.Duration) ([]Event, error) {
	q := url.Values{"after": {strconv.FormatInt(after, 10)}}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	var es Events
	err := c.do(ctx, http.MethodGet, "/v1/events?"+q.Encode(), nil, &es)
	return es.Events, err
}

// Log calls GET /v1/log and returns the P2PInfo log text.
func (c *Client) Log(ctx context.Context) (string, error) {
	var s string
	return s, c.do(ctx, http.MethodGet, "/v1/log", nil, &s)
}

// Logout calls POST /v1/logout.
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/logout", struct{}{}, nil)
}

// Quit calls POST /v1/quit.
func (c *Client) Quit(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/quit", struct{}{}, nil)
}

// Admin calls a server's admin API. It is safe for concurrent use.
type Admin struct {
	base string
	hc   *http.Client
}

// NewAdmin returns an Admin for the server's admin address "IP:PORT".
func NewAdmin(addr string) *Admin {
	return &Admin{base: "http://" + addr, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}}
}

// Stats calls GET /v1/stats.
func (a *Admin) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	return s, do(ctx, a.hc, a.base, http.MethodGet, "/v1/stats", nil, &s)
}

// Metrics calls GET /metrics and returns the Prometheus text.
func (a *Admin) Metrics(ctx context.Context) (string, error) {
	var s string
	return s, do(ctx, a.hc, a.base, http.MethodGet, "/metrics", nil, &s)
}

// Healthz calls GET /healthz; a nil error means healthy.
func (a *Admin) Healthz(ctx context.Context) error {
	return do(ctx, a.hc, a.base, http.MethodGet, "/healthz", nil, nil)
}

// Close releases idle connections.
func (a *Admin) Close() { a.hc.CloseIdleConnections() }
