package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
)

// MaxFileSize is the largest file the client sends or accepts.
const MaxFileSize = 256 << 20

// fileSend is an outgoing transfer.
type fileSend struct {
	id, to, name, sha string
	size              int64
	via               string
	l                 *link // the link the transfer goes over
	cancel            context.CancelFunc
}

// fileRecv is an incoming transfer.
type fileRecv struct {
	mu        sync.Mutex
	id, from  string
	name, sha string
	size, got int64
	via       string
	reply     *link    // the link the offer came by: FileResult goes back there
	ch        *channel // the channel it came over, nil if relayed
	tmp       *os.File
	h         hash.Hash
	done      bool
}

// SendFile sends the file at path to the user to, over the P2P channel if
// one exists, else through the server. It returns the transferID and the
// path taken; the transfer itself runs in the background and ends with a
// file_sent or file_failed event.
func (c *Client) SendFile(to, path string) (string, string, error) {
	if !protocol.ValidUserID(to) {
		return "", "", fmt.Errorf("to: %q is not a valid user ID", to)
	}
	if to == c.cfg.UserID {
		return "", "", fmt.Errorf("to: cannot send to yourself")
	}
	if path == "" {
		return "", "", fmt.Errorf("path: required")
	}
	// O_NONBLOCK: opening a FIFO (or a device) must not hang the request;
	// the regular-file check below then refuses it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", "", fmt.Errorf("path: %w", err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return "", "", fmt.Errorf("path: %s is not a regular file", path)
	}
	if fi.Size() > MaxFileSize {
		f.Close()
		return "", "", fmt.Errorf("path: %s is %d bytes, more than %d", path, fi.Size(), MaxFileSize)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		f.Close()
		return "", "", fmt.Errorf("path: read %s: %w", path, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))

	c.mu.Lock()
	if c.loggedOut || c.stopped {
		c.mu.Unlock()
		f.Close()
		return "", "", ErrLoggedOut
	}
	c.nextMsg++
	s := &fileSend{id: fmt.Sprintf("%s-%s-f%d", c.cfg.UserID, c.token, c.nextMsg), to: to,
		name: filepath.Base(path), sha: sum, size: fi.Size()}
	var l *link
	if ch := c.chans[to]; ch != nil && !ch.l.closed() {
		l, s.via = ch.l, api.ViaP2P
	} else if c.srv != nil && !c.srv.closed() {
		l, s.via = c.srv, api.ViaRelay
	} else {
		c.mu.Unlock()
		f.Close()
		return "", "", ErrNoPath
	}
	ctx, cancel := context.WithCancel(c.runCtx)
	s.cancel, s.l = cancel, l
	c.sends[s.id] = s
	c.mu.Unlock()
	if s.via == api.ViaP2P {
		c.logEntry(protocol.LogEntry{Kind: protocol.LogSendP2P, Me: c.cfg.UserID})
	} else {
		c.logEntry(protocol.LogEntry{Kind: protocol.LogForwarding})
	}
	started := c.goTracked(func() {
		defer f.Close()
		if err := c.stream(ctx, l, s, f); err != nil {
			c.sendFailed(s.id, err.Error())
			return
		}
		// everything is queued: wait for the receiver's FileResult, but
		// not forever (it may be lost with a relay connection).
		wait := max(10*time.Second, 20*l.deadTime())
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
			c.sendFailed(s.id, fmt.Sprintf("no FileResult within %s", wait))
		}
	})
	if !started {
		f.Close()
		cancel()
		return "", "", ErrStopping
	}
	return s.id, s.via, nil
}

// stream sends the offer, the chunks and FileDone over l.
func (c *Client) stream(ctx context.Context, l *link, s *fileSend, f *os.File) error {
	send := func(typ string, body any) error {
		if err := l.sendWait(ctx, protocol.MustFrame(typ, body)); err != nil {
			if errors.Is(err, errLinkClosed) {
				return errors.New(protocol.ReasonConnectionLost)
			}
			return err
		}
		return nil
	}
	if err := send(protocol.TypeFileOffer, protocol.FileOffer{TransferID: s.id, UserID: c.cfg.UserID, DestUserID: s.to,
		FileName: s.name, Size: s.size, SHA256: s.sha}); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	buf := make([]byte, protocol.MaxChunkData)
	var off int64
	for off < s.size {
		n, err := io.ReadFull(f, buf[:min(int64(len(buf)), s.size-off)])
		if n > 0 {
			if err := send(protocol.TypeFileChunk, protocol.FileChunk{TransferID: s.id, UserID: c.cfg.UserID,
				DestUserID: s.to, Offset: off, Data: buf[:n]}); err != nil {
				return err
			}
			off += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if off != s.size {
		return fmt.Errorf("file changed while sending: %d of %d bytes", off, s.size)
	}
	return send(protocol.TypeFileDone, protocol.FileDone{TransferID: s.id, UserID: c.cfg.UserID, DestUserID: s.to})
}

// sendFailed ends an outgoing transfer with file_failed.
func (c *Client) sendFailed(id, reason string) {
	c.mu.Lock()
	s := c.sends[id]
	delete(c.sends, id)
	c.mu.Unlock()
	if s == nil {
		return
	}
	s.cancel()
	c.emit(api.Event{Type: api.EventFileFailed, To: s.to, TransferID: id, Name: s.name, Size: s.size, Reason: reason, Via: s.via})
}

// onFile handles a File* frame that came by via. peer is the channel's
// peer ("" when relayed: the server enforces the sender), reply the link
// answers go back over, ch the channel (nil when relayed).
func (c *Client) onFile(f protocol.Frame, via, peer string, reply *link, ch *channel) error {
	// decode once, into the frame's own body type (chunks are large)
	var (
		offer protocol.FileOffer
		chunk protocol.FileChunk
		done  protocol.FileDone
		res   protocol.FileResult
		from  string
		tid   string
		err   error
	)
	switch f.Type {
	case protocol.TypeFileOffer:
		err = f.DecodeBody(&offer)
		from, tid = offer.UserID, offer.TransferID
	case protocol.TypeFileChunk:
		err = f.DecodeBody(&chunk)
		from, tid = chunk.UserID, chunk.TransferID
	case protocol.TypeFileDone:
		err = f.DecodeBody(&done)
		from, tid = done.UserID, done.TransferID
	case protocol.TypeFileResult:
		err = f.DecodeBody(&res)
		from, tid = res.UserID, res.TransferID
	}
	if err != nil {
		return err
	}
	if peer != "" {
		if from == "" {
			from = peer
		}
		if from != peer {
			return &protocol.FrameError{Code: protocol.CodeForbidden, Reason: f.Type + " names another sender"}
		}
	}
	if tid == "" || !protocol.ValidUserID(from) {
		return &protocol.FrameError{Code: protocol.CodeBadFrame, Reason: f.Type + " without transferID or userID"}
	}
	switch f.Type {
	case protocol.TypeFileResult:
		c.onFileResult(from, res, via)
		return nil
	case protocol.TypeFileOffer:
		c.onOffer(from, offer, via, reply, ch)
		return nil
	}
	c.mu.Lock()
	r := c.recvs[from+"\x00"+tid]
	c.mu.Unlock()
	if r == nil || r.reply != reply {
		// unknown or already failed transfer, or one that came by another
		// path (docs/protocol.md 9.4)
		return nil
	}
	if f.Type == protocol.TypeFileChunk {
		c.onChunk(r, chunk)
	} else {
		c.onDone(r)
	}
	return nil
}

func (c *Client) onFileResult(from string, r protocol.FileResult, via string) {
	c.mu.Lock()
	s := c.sends[r.TransferID]
	if s == nil || s.to != from {
		c.mu.Unlock()
		return
	}
	delete(c.sends, r.TransferID)
	c.mu.Unlock()
	s.cancel()
	if r.OK {
		c.emit(api.Event{Type: api.EventFileSent, To: s.to, TransferID: s.id, Name: s.name, Size: s.size, SHA256: s.sha, Via: s.via})
		return
	}
	c.emit(api.Event{Type: api.EventFileFailed, To: s.to, TransferID: s.id, Name: s.name, Size: s.size, Reason: r.Error, Via: s.via})
}

// cleanName makes a received file name safe to store.
func cleanName(name string) string {
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' {
			return '_'
		}
		return r
	}, name)
	if name == "." || name == ".." || name == "/" || name == "" || strings.HasPrefix(name, ".part-") {
		name = "file"
	}
	return cutUTF8(strings.ToValidUTF8(name, "_"), maxNameBytes)
}

// maxNameBytes bounds a received file's stored name (docs/control-api.md,
// file_received).
const maxNameBytes = 200

// cutUTF8 cuts s to at most n bytes without splitting a character, so the
// name an event reports is the name of the file on disk.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func (c *Client) onOffer(from string, o protocol.FileOffer, via string, reply *link, ch *channel) {
	key := from + "\x00" + o.TransferID
	fail := func(reason string) {
		_ = reply.reply(protocol.MustFrame(protocol.TypeFileResult, protocol.FileResult{TransferID: o.TransferID,
			UserID: c.cfg.UserID, DestUserID: from, OK: false, Error: reason}))
		c.emit(api.Event{Type: api.EventFileFailed, From: from, TransferID: o.TransferID, Name: o.FileName, Size: o.Size, Reason: reason, Via: via})
	}
	if o.Size < 0 || o.Size > MaxFileSize {
		fail(fmt.Sprintf("size %d out of range 0..%d", o.Size, MaxFileSize))
		return
	}
	if b, err := hex.DecodeString(o.SHA256); err != nil || len(b) != sha256.Size {
		fail("sha256 is not 64 hex digits")
		return
	}
	c.mu.Lock()
	if c.recvs[key] != nil || c.stopped {
		c.mu.Unlock()
		return
	}
	if reason := c.recvRoomLocked(from); reason != "" {
		c.mu.Unlock()
		c.boundHit(limitTransfers, reason)
		fail(reason)
		return
	}
	tmp, err := os.CreateTemp(c.cfg.FilesDir, ".part-*")
	if err != nil {
		c.mu.Unlock()
		fail("cannot store: " + err.Error())
		return
	}
	c.recvs[key] = &fileRecv{id: o.TransferID, from: from, name: cleanName(o.FileName), sha: strings.ToLower(o.SHA256),
		size: o.Size, via: via, reply: reply, ch: ch, tmp: tmp, h: sha256.New()}
	c.mu.Unlock()
}

func (c *Client) onChunk(r *fileRecv, k protocol.FileChunk) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return
	}
	switch {
	case len(k.Data) > protocol.MaxChunkData:
		c.recvFail(r, fmt.Sprintf("chunk of %d bytes exceeds %d", len(k.Data), protocol.MaxChunkData), true)
		return
	case k.Offset != r.got:
		c.recvFail(r, fmt.Sprintf("chunk at offset %d, expected %d", k.Offset, r.got), true)
		return
	case r.got+int64(len(k.Data)) > r.size:
		c.recvFail(r, fmt.Sprintf("more data than the offered %d bytes", r.size), true)
		return
	}
	if _, err := r.tmp.Write(k.Data); err != nil {
		c.recvFail(r, "cannot store: "+err.Error(), true)
		return
	}
	r.h.Write(k.Data)
	r.got += int64(len(k.Data))
}

func (c *Client) onDone(r *fileRecv) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return
	}
	if r.got != r.size {
		c.recvFail(r, fmt.Sprintf("got %d of %d bytes", r.got, r.size), true)
		return
	}
	if sum := hex.EncodeToString(r.h.Sum(nil)); sum != r.sha {
		c.recvFail(r, "sha256 mismatch: got "+sum, true)
		return
	}
	if err := r.tmp.Close(); err != nil {
		c.recvFail(r, "cannot store: "+err.Error(), true)
		return
	}
	final, err := c.storeAs(r.tmp.Name(), r.name)
	if err != nil {
		c.recvFail(r, "cannot store: "+err.Error(), true)
		return
	}
	r.done = true
	c.mu.Lock()
	delete(c.recvs, r.from+"\x00"+r.id)
	c.mu.Unlock()
	_ = r.reply.send(protocol.MustFrame(protocol.TypeFileResult, protocol.FileResult{TransferID: r.id,
		UserID: c.cfg.UserID, DestUserID: r.from, OK: true}))
	c.emit(api.Event{Type: api.EventFileReceived, From: r.from, TransferID: r.id, Name: r.name, Size: r.size,
		SHA256: r.sha, Via: r.via, Path: final})
}

// storeAs renames tmp to name in FilesDir, adding a suffix if name exists.
func (c *Client) storeAs(tmp, name string) (string, error) {
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for i := 0; i < 1000; i++ {
		cand := name
		if i > 0 {
			cand = fmt.Sprintf("%s.%d%s", base, i, ext)
		}
		p := filepath.Join(c.cfg.FilesDir, cand)
		if err := os.Link(tmp, p); err == nil {
			_ = os.Remove(tmp)
			return p, nil
		} else if !os.IsExist(err) {
			return "", err
		}
	}
	return "", errors.New("too many files with that name")
}

// recvFail ends an incoming transfer (r.mu held): the partial file is
// removed, the sender told (if tell), and file_failed reported.
func (c *Client) recvFail(r *fileRecv, reason string, tell bool) {
	r.done = true
	r.tmp.Close()
	_ = os.Remove(r.tmp.Name())
	c.mu.Lock()
	delete(c.recvs, r.from+"\x00"+r.id)
	c.mu.Unlock()
	if tell {
		_ = r.reply.send(protocol.MustFrame(protocol.TypeFileResult, protocol.FileResult{TransferID: r.id,
			UserID: c.cfg.UserID, DestUserID: r.from, OK: false, Error: reason}))
	}
	c.emit(api.Event{Type: api.EventFileFailed, From: r.from, TransferID: r.id, Name: r.name, Size: r.size, Reason: reason, Via: r.via})
}

// recvAbort fails the incoming transfers that came over the dead channel ch.
func (c *Client) recvAbort(ch *channel) {
	c.recvAbortWhere(func(r *fileRecv) bool { return r.ch == ch })
}

// recvAbortLink fails the relayed incoming transfers whose offer came over
// the dead server link l: their chunks cannot come any more. The sender
// hears of it from the server (or its own FileResult timeout).
func (c *Client) recvAbortLink(l *link) {
	c.recvAbortWhere(func(r *fileRecv) bool { return r.ch == nil && r.reply == l })
}

// recvAbortWhere fails, with "connection lost", the unfinished incoming
// transfers that match: the partial file is removed and file_failed
// reported.
func (c *Client) recvAbortWhere(match func(*fileRecv) bool) {
	c.mu.Lock()
	var rs []*fileRecv
	for _, r := range c.recvs {
		if match(r) {
			rs = append(rs, r)
		}
	}
	c.mu.Unlock()
	for _, r := range rs {
		r.mu.Lock()
		if !r.done {
			c.recvFail(r, protocol.ReasonConnectionLost, false)
		}
		r.mu.Unlock()
	}
}

// abortTransfers removes the partial files of unfinished transfers.
func (c *Client) abortTransfers() {
	c.mu.Lock()
	var rs []*fileRecv
	for _, r := range c.recvs {
		rs = append(rs, r)
	}
	c.mu.Unlock()
	for _, r := range rs {
		r.mu.Lock()
		if !r.done {
			r.done = true
			r.tmp.Close()
			_ = os.Remove(r.tmp.Name())
		}
		r.mu.Unlock()
	}
}

// sendAbortLink fails the outgoing transfers that went over the dead link
// l and are still waiting for their FileResult.
func (c *Client) sendAbortLink(l *link) {
	c.mu.Lock()
	var ids []string
	for id, s := range c.sends {
		if s.l == l {
			ids = append(ids, id)
		}
	}
	c.mu.Unlock()
	for _, id := range ids {
		c.sendFailed(id, protocol.ReasonConnectionLost)
	}
}
