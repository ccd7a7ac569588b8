package client_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client/clienttest"
)

// benchChat measures one chat round trip through the control API: POST
// /v1/chat at alice, then long-poll alice's events until the ack.
func benchChat(b *testing.B, relay bool) {
	srv := startServerB(b)
	bob := clienttest.New(b, srv.Addr, "bob")
	if relay {
		bob.C.CloseListenersForTest()
	}
	alice := clienttest.New(b, srv.Addr, "alice")
	want := api.ViaP2P
	if relay {
		want = api.ViaRelay
	} else {
		waitOpenedB(b, alice, "bob")
	}
	ctx := context.Background()
	var seq int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := alice.API.Chat(ctx, "bob", "ping")
		if err != nil || res.Via != want {
			b.Fatalf("chat %+v %v", res, err)
		}
	wait:
		for {
			evs, err := alice.API.Events(ctx, seq, 5*time.Second)
			if err != nil || len(evs) == 0 {
				b.Fatalf("no ack: %v", err)
			}
			for _, e := range evs {
				seq = e.Seq
				if e.Type == api.EventChatAcked && e.MessageID == res.MessageID {
					break wait
				}
			}
		}
	}
}

// BenchmarkChatP2P: chat round trip (send, ack) over a channel.
func BenchmarkChatP2P(b *testing.B) { benchChat(b, false) }

// BenchmarkChatRelay: chat round trip through the server.
func BenchmarkChatRelay(b *testing.B) { benchChat(b, true) }

// BenchmarkFileP2P: a 1 MiB file over a channel, until the sender's
// file_sent.
func BenchmarkFileP2P(b *testing.B) {
	srv := startServerB(b)
	clienttest.New(b, srv.Addr, "bob")
	alice := clienttest.New(b, srv.Addr, "alice")
	waitOpenedB(b, alice, "bob")
	path := filepath.Join(b.TempDir(), "f.bin")
	if err := os.WriteFile(path, make([]byte, 1<<20), 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1 << 20)
	ctx := context.Background()
	var seq int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := alice.API.SendFile(ctx, "bob", path)
		if err != nil {
			b.Fatal(err)
		}
	wait:
		for {
			evs, err := alice.API.Events(ctx, seq, 10*time.Second)
			if err != nil || len(evs) == 0 {
				b.Fatalf("no file_sent: %v", err)
			}
			for _, e := range evs {
				seq = e.Seq
				if e.TransferID == res.TransferID && (e.Type == api.EventFileSent || e.Type == api.EventFileFailed) {
					if e.Type == api.EventFileFailed {
						b.Fatalf("file failed: %+v", e)
					}
					break wait
				}
			}
		}
	}
}

func waitOpenedB(b *testing.B, h *clienttest.Client, peer string) {
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		cs, err := h.API.Channels(context.Background())
		if err == nil {
			for _, c := range cs {
				if c.Peer == peer {
					return
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatalf("no channel to %s", peer)
}
