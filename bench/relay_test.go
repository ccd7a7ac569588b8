package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/sim"
)

// relayServerCmd is the server command of the raw relay benchmark: a deep
// per-connection queue (the raw receivers read as fast as they can, but the
// load generator shares the CPUs with the server) and a slow heartbeat.
const relayServerCmd = sim.DefaultServerCommand + " --queue 65536"

// relayMessages is the number of messages of one measurement, split over
// the senders (P2PLAB_BENCH_RELAY_MSGS overrides it).
func relayMessages() int {
	if v, err := strconv.Atoi(os.Getenv("P2PLAB_BENCH_RELAY_MSGS")); err == nil && v > 0 {
		return v
	}
	return 200000
}

// relayContent makes a ~190-byte ChatMessage frame: a "small message".
const relayContent = "a small chat message of about sixty bytes, typical for IM."

// BenchmarkRelayRaw measures relayed small chat messages per second through
// the reference server in a lab: n lab hosts each open one raw TCP
// connection (frames made with protocol/, no client program) from inside
// their namespace to the server on the LAN, log in, and then each sends
// its share of the messages to the next user in a ring while reading what
// it is sent. The figure is messages delivered (every one counted at its
// receiver) over the time from the start to the last delivery. It also
// reports the server's CPU time per message (/proc/PID/stat): the load
// generator runs on the same 2 cores, so msgs per server CPU-second is the
// server's own cost.
func BenchmarkRelayRaw(b *testing.B) {
	for _, n := range []int{2, 100} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			lab, users := startLab(b, ctx, labOpts{clients: n, heartbeat: 10 * time.Second, serverCmd: relayServerCmd})
			if err := lab.Server().Start(ctx); err != nil {
				b.Fatal(err)
			}
			spid, err := serverPID(lab)
			if err != nil {
				b.Fatal(err)
			}
			conns := make([]net.Conn, n)
			for i, u := range users {
				c, err := rawLogin(ctx, lab, u)
				if err != nil {
					b.Fatal(err)
				}
				conns[i] = c
				b.Cleanup(func() { c.Close() })
			}
			per := max(1, relayMessages()/n)
			var frameLen int
			var total time.Duration
			var cpu time.Duration
			for range b.N {
				u0, s0, _ := CPUTime(spid)
				d, fl, err := relayRound(ctx, users, conns, per)
				if err != nil {
					b.Fatal(err)
				}
				u1, s1, _ := CPUTime(spid)
				total += d
				cpu += (u1 + s1) - (u0 + s0)
				frameLen = fl
			}
			msgs := float64(per * n * b.N)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(msgs/total.Seconds(), "msgs/s")
			b.ReportMetric(msgs*float64(frameLen)/total.Seconds()/1e6, "MB/s")
			b.ReportMetric(float64(frameLen), "B/msg")
			if cpu > 0 {
				b.ReportMetric(msgs/cpu.Seconds(), "msgs/server-cpu-s")
			}
			b.ReportMetric(Load1(), "load1")
			b.Logf("clients=%d: %.0f msgs in %s = %.0f msgs/s (%d B frames); server CPU %s; load %s",
				n, msgs, total, msgs/total.Seconds(), frameLen, cpu, LoadAvg())
		})
	}
}

// rawLogin dials the lab's server from inside user's host and logs in.
func rawLogin(ctx context.Context, lab *sim.Lab, user string) (net.Conn, error) {
	var c net.Conn
	err := lab.Host(user).Do(ctx, func() error {
		d := net.Dialer{Timeout: 5 * time.Second}
		var err error
		c, err = d.DialContext(ctx, "tcp", lab.Server().Addr().String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bench: %s dial server: %w", user, err)
	}
	f := protocol.MustFrame(protocol.TypeLogin, protocol.Login{UserID: user})
	f.ID = 1
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := protocol.WriteFrame(c, f); err != nil {
		c.Close()
		return nil, fmt.Errorf("bench: %s login: %w", user, err)
	}
	r := protocol.NewReader(c)
	for range 1000 { // bounded: a reply comes after a few notices at most
		rf, err := r.ReadFrame()
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("bench: %s login: %w", user, err)
		}
		if rf.Type != protocol.TypeLoginResult {
			continue
		}
		var res protocol.LoginResult
		if err := rf.DecodeBody(&res); err != nil || !res.OK {
			c.Close()
			return nil, fmt.Errorf("bench: %s login refused: %s (%v)", user, res.Error, err)
		}
		c.SetDeadline(time.Time{})
		return c, nil
	}
	c.Close()
	return nil, fmt.Errorf("bench: %s login: no LoginResult", user)
}

// relayRound has every user send per messages to the next user in the ring
// and read per messages; it returns the time to the last delivery.
func relayRound(ctx context.Context, users []string, conns []net.Conn, per int) (time.Duration, int, error) {
	n := len(users)
	frames := make([][]byte, n)
	for i, u := range users {
		fb, err := protocol.Marshal(protocol.MustFrame(protocol.TypeChatMessage, protocol.Chat{
			MessageID: "m-" + u, UserID: u, DestUserID: users[(i+1)%n], Content: relayContent,
			SendTime: time.Now().UTC().Format(time.RFC3339)}))
		if err != nil {
			return 0, 0, err
		}
		frames[i] = fb
	}
	deadline := time.Now().Add(3 * time.Minute) // a bound, not a check
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	errs := make(chan error, 2*n)
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range conns {
		c.SetDeadline(deadline)
		wg.Add(2)
		go func() { // sender
			defer wg.Done()
			bw := bufio.NewWriterSize(c, 64<<10)
			for range per {
				if _, err := bw.Write(frames[i]); err != nil {
					errs <- fmt.Errorf("%s send: %w", users[i], err)
					return
				}
			}
			if err := bw.Flush(); err != nil {
				errs <- fmt.Errorf("%s send: %w", users[i], err)
			}
		}()
		go func() { // receiver: counts ChatMessage frames, skips notices and heartbeats
			defer wg.Done()
			r := protocol.NewReader(bufio.NewReaderSize(c, 64<<10))
			for got := 0; got < per; {
				p, err := r.ReadPayload()
				if err != nil {
					errs <- fmt.Errorf("%s receive after %d of %d: %w", users[i], got, per, err)
					return
				}
				f, err := protocol.Unmarshal(p)
				if err != nil {
					errs <- fmt.Errorf("%s receive: %w", users[i], err)
					return
				}
				switch f.Type {
				case protocol.TypeChatMessage:
					got++
				case protocol.TypeError:
					errs <- fmt.Errorf("%s: server error %s", users[i], f.Body)
					return
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	close(errs)
	for _, c := range conns {
		c.SetDeadline(time.Time{})
	}
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	return d, len(frames[0]), nil
}
