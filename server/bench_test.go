package server_test

import (
	"bufio"
	"testing"
	"time"

	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/server"
)

// BenchmarkRelay measures relayed small chat messages per second through
// one server over loopback: one sender pipelines b.N ChatMessage frames to
// one receiver, which reads them all.
func BenchmarkRelay(b *testing.B) {
	s := newServer(b, server.Config{Heartbeat: time.Minute, QueueLen: 1 << 16})
	alice := login(b, s, "alice")
	bob := login(b, s, "bob")
	alice.expectNotify("bob", true)
	frame, err := protocol.Marshal(chat("alice", "bob", "m-000000", "a small chat message of about sixty bytes, typical"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	sent := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(alice.nc, 64<<10)
		alice.nc.SetWriteDeadline(time.Now().Add(time.Minute))
		for range b.N {
			if _, err := bw.Write(frame); err != nil {
				sent <- err
				return
			}
		}
		sent <- bw.Flush()
	}()
	r := protocol.NewReader(bufio.NewReaderSize(bob.nc, 64<<10))
	bob.nc.SetReadDeadline(time.Now().Add(time.Minute))
	for i := 0; i < b.N; {
		f, err := r.ReadFrame()
		if err != nil {
			b.Fatalf("after %d of %d: %v", i, b.N, err)
		}
		if f.Type == protocol.TypeChatMessage {
			i++
		}
	}
	if err := <-sent; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
