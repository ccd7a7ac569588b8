package client_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
)

// writeRandom writes size random bytes to dir/name.
func writeRandom(t *testing.T, dir, name string, size int) (string, []byte) {
	t.Helper()
	b := make([]byte, size)
	_, _ = rand.Read(b)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// TestFiles covers docs/protocol.md 3.9 and 6.5: files go over the channel when one exists,
// else through the server; on arrival the sha256 is checked and the file
// stored in the files directory; the sender learns the outcome.
func TestFiles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		relay bool
		size  int
	}{
		{"p2p-empty", false, 0},
		{"p2p-multi-chunk", false, 3*protocol.MaxChunkData + 17},
		{"p2p-more-chunks-than-bulk-slots", false, (bulkSlots+4)*protocol.MaxChunkData + 3},
		{"relay-one-chunk", true, 1000},
		{"relay-multi-chunk", true, 2*protocol.MaxChunkData + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t)
			b := clienttest.New(t, srv.Addr, "bob")
			if tc.relay {
				b.C.CloseListenersForTest()
			}
			a := clienttest.New(t, srv.Addr, "alice")
			wantVia := api.ViaP2P
			if tc.relay {
				wantVia = api.ViaRelay
				eventually(t, "alice's dial failed", func() bool { return countLog(p2pLog(t, a), protocol.LogCreateFailed, "bob") == 1 })
			} else {
				waitEvent(t, a, "channel", opened("bob"))
			}
			before, _ := userStats(t, srv, "alice")
			path, data := writeRandom(t, t.TempDir(), "report.bin", tc.size)
			res, err := a.API.SendFile(tctx(t), "bob", path)
			if err != nil {
				t.Fatal(err)
			}
			if res.Via != wantVia || res.TransferID == "" {
				t.Fatalf("answer %+v, want via %s", res, wantVia)
			}
			sum := sha256.Sum256(data)
			e := waitEvent(t, b, "file_received", func(e api.Event) bool { return e.Type == api.EventFileReceived && e.TransferID == res.TransferID })
			if e.From != "alice" || e.Name != "report.bin" || e.Size != int64(tc.size) || e.SHA256 != hex.EncodeToString(sum[:]) || e.Via != wantVia {
				t.Errorf("file_received %+v", e)
			}
			if filepath.Dir(e.Path) != b.FilesDir {
				t.Errorf("stored at %s, not in %s", e.Path, b.FilesDir)
			}
			got, err := os.ReadFile(e.Path)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("stored file differs (%d bytes, %v)", len(got), err)
			}
			s := waitEvent(t, a, "file_sent", func(e api.Event) bool {
				return (e.Type == api.EventFileSent || e.Type == api.EventFileFailed) && e.TransferID == res.TransferID
			})
			if s.Type != api.EventFileSent || s.Via != wantVia {
				t.Errorf("sender's outcome %+v", s)
			}
			after, _ := userStats(t, srv, "alice")
			relayed := after.Uploads - before.Uploads
			chunks := int64((tc.size + protocol.MaxChunkData - 1) / protocol.MaxChunkData)
			if tc.relay && relayed != chunks+2 { // offer, chunks, done
				t.Errorf("server relayed %d frames from alice, want %d", relayed, chunks+2)
			}
			if !tc.relay && relayed != 0 {
				t.Errorf("server relayed %d frames of a p2p transfer", relayed)
			}
			les := p2pLog(t, a)
			if tc.relay && countLog(les, protocol.LogForwarding, "") != 1 || !tc.relay && countLog(les, protocol.LogSendP2P, "") != 1 {
				t.Errorf("alice's log for a %s transfer: %+v", wantVia, les)
			}
		})
	}
}

// TestFileRejected: a transfer whose data does not match the offered
// sha256, or whose chunks are out of order, is refused with FileResult
// ok=false and file_failed, and nothing is stored.
func TestFileRejected(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sha    string
		offset int64
	}{
		{"bad sha256", hex.EncodeToString(make([]byte, 32)), 0},
		{"chunk out of order", "", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t)
			b := clienttest.New(t, srv.Addr, "bob", asV1)
			rc := dialRaw(t, b.C.Listen(), netipZero)
			rc.send(protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: "zed"}))
			data := []byte("hello file")
			sum := sha256.Sum256(data)
			sha := tc.sha
			if sha == "" {
				sha = hex.EncodeToString(sum[:])
			}
			rc.send(protocol.MustFrame(protocol.TypeFileOffer, protocol.FileOffer{TransferID: "t1", UserID: "zed", DestUserID: "bob", FileName: "../../etc/x", Size: int64(len(data)), SHA256: sha}))
			rc.send(protocol.MustFrame(protocol.TypeFileChunk, protocol.FileChunk{TransferID: "t1", UserID: "zed", DestUserID: "bob", Offset: tc.offset, Data: data}))
			rc.send(protocol.MustFrame(protocol.TypeFileDone, protocol.FileDone{TransferID: "t1", UserID: "zed", DestUserID: "bob"}))
			var r protocol.FileResult
			if err := rc.expect(protocol.TypeFileResult).DecodeBody(&r); err != nil || r.OK || r.TransferID != "t1" || r.Error == "" {
				t.Fatalf("FileResult %+v %v", r, err)
			}
			e := waitEvent(t, b, "file_failed", isType(api.EventFileFailed))
			if e.From != "zed" || e.TransferID != "t1" {
				t.Errorf("file_failed %+v", e)
			}
			ents, _ := os.ReadDir(b.FilesDir)
			if len(ents) != 0 {
				t.Errorf("files dir holds %d entries after a refused transfer", len(ents))
			}
		})
	}
}

// TestFileToOfflineUser: a file to a user who is not online goes to the
// server, which refuses it (user_offline): the sender reports file_failed.
func TestFileToOfflineUser(t *testing.T) {
	srv := startServer(t)
	a := clienttest.New(t, srv.Addr, "alice")
	path, _ := writeRandom(t, t.TempDir(), "x.bin", 100)
	res, err := a.API.SendFile(tctx(t), "nobody", path)
	if err != nil || res.Via != api.ViaRelay {
		t.Fatalf("answer %+v %v", res, err)
	}
	e := waitEvent(t, a, "file_failed", func(e api.Event) bool { return e.Type == api.EventFileFailed && e.TransferID == res.TransferID })
	if e.Reason != protocol.CodeUserOffline || e.To != "nobody" {
		t.Errorf("file_failed %+v", e)
	}
}

// TestFileChannelLostMidTransfer: the channel dies after the offer and one
// chunk; the receiver reports file_failed (connection lost) and keeps no
// partial file.
func TestFileChannelLostMidTransfer(t *testing.T) {
	srv := startServer(t)
	b := clienttest.New(t, srv.Addr, "bob", asV1)
	rc := dialRaw(t, b.C.Listen(), netipZero)
	rc.send(protocol.MustFrame(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: "zed"}))
	sum := sha256.Sum256(make([]byte, 200))
	rc.send(protocol.MustFrame(protocol.TypeFileOffer, protocol.FileOffer{TransferID: "t9", UserID: "zed", DestUserID: "bob", FileName: "half.bin", Size: 200, SHA256: hex.EncodeToString(sum[:])}))
	rc.send(protocol.MustFrame(protocol.TypeFileChunk, protocol.FileChunk{TransferID: "t9", UserID: "zed", DestUserID: "bob", Offset: 0, Data: make([]byte, 100)}))
	// a chat after the chunk: once it is in, bob has the chunk too
	rc.send(protocol.MustFrame(protocol.TypeClientChatMessage, protocol.Chat{MessageID: "c1", UserID: "zed", DestUserID: "bob"}))
	waitEvent(t, b, "chat after the chunk", received("c1"))
	rc.reset()
	e := waitEvent(t, b, "file_failed", isType(api.EventFileFailed))
	if e.TransferID != "t9" || e.From != "zed" || e.Reason != protocol.ReasonConnectionLost {
		t.Errorf("file_failed %+v", e)
	}
	ents, _ := os.ReadDir(b.FilesDir)
	if len(ents) != 0 {
		t.Errorf("files dir holds %d entries after a cut transfer", len(ents))
	}
}

// bulkSlots mirrors the client's limit of queued file chunks per
// connection: a transfer with more chunks must wait for the writer.
const bulkSlots = 16

// TestRelayedFileServerLostMidTransfer: a relayed transfer is cut when the
// server connection dies after the offer and one chunk; the receiver
// reports file_failed (connection lost, via relay) and keeps no partial
// file.
func TestRelayedFileServerLostMidTransfer(t *testing.T) {
	srv := startServer(t)
	b := clienttest.New(t, srv.Addr, "bob")
	zed := newRawUser(t, srv.Addr, "zed", false)
	sum := sha256.Sum256(make([]byte, 200))
	zed.sendServer(protocol.MustFrame(protocol.TypeFileOffer, protocol.FileOffer{TransferID: "t8", UserID: "zed", DestUserID: "bob", FileName: "half.bin", Size: 200, SHA256: hex.EncodeToString(sum[:])}))
	zed.sendServer(protocol.MustFrame(protocol.TypeFileChunk, protocol.FileChunk{TransferID: "t8", UserID: "zed", DestUserID: "bob", Offset: 0, Data: make([]byte, 100)}))
	// a chat after the chunk: once it is in, bob has the chunk too
	zed.sendServer(protocol.MustFrame(protocol.TypeChatMessage, protocol.Chat{MessageID: "c1", UserID: "zed", DestUserID: "bob"}))
	waitEvent(t, b, "chat after the chunk", received("c1"))
	if ents, _ := os.ReadDir(b.FilesDir); len(ents) != 1 {
		t.Fatalf("files dir holds %d entries during the transfer, want its partial file", len(ents))
	}
	srv.Close()
	e := waitEvent(t, b, "file_failed", isType(api.EventFileFailed))
	if e.TransferID != "t8" || e.From != "zed" || e.Reason != protocol.ReasonConnectionLost || e.Via != api.ViaRelay {
		t.Errorf("file_failed %+v", e)
	}
	if ents, _ := os.ReadDir(b.FilesDir); len(ents) != 0 {
		t.Errorf("files dir holds %d entries after a cut transfer", len(ents))
	}
}
