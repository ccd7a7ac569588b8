package client_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
)

// buildBinary builds cmd/p2plab into the test's temp dir.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the p2plab binary")
	}
	bin := filepath.Join(t.TempDir(), "p2plab")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/p2plab").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a `p2plab client` child process.
type proc struct {
	cmd    *exec.Cmd
	api    *api.Client
	listen netip.AddrPort
	done   chan error
}

// startProc runs `p2plab client` and waits for its readiness line, which
// must be exactly "p2plab client USER online, listening on IP:PORT".
func startProc(t *testing.T, bin string, server netip.AddrPort, user string, extra ...string) *proc {
	t.Helper()
	sock := filepath.Join(shortDir(t), "c.sock")
	args := append([]string{"client", "--server", server.String(), "--user", user, "--control", sock,
		"--log", filepath.Join(t.TempDir(), "p2pinfo.log"), "--files", t.TempDir()}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		<-p.done
	})
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		p.done <- cmd.Wait()
		close(p.done)
	}()
	re := regexp.MustCompile(`^p2plab client ` + regexp.QuoteMeta(user) + ` online, listening on (\S+)$`)
	select {
	case line := <-lines:
		m := re.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("readiness line %q", line)
		}
		if p.listen, err = netip.ParseAddrPort(m[1]); err != nil {
			t.Fatalf("readiness line %q: %v", line, err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no readiness line")
	}
	p.api = api.NewClient(sock)
	t.Cleanup(p.api.Close)
	return p
}

func shortDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "p2pp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// TestProcess runs the real binary: the readiness line, a frozen client
// (SIGSTOP: no FIN, its sockets stay open) torn down by heartbeat, and a
// clean SIGTERM (logout, exit 0).
func TestProcess(t *testing.T) {
	bin := buildBinary(t)
	srv := startServer(t)
	a := clienttest.New(t, srv.Addr, "alice", fastHB)
	p := startProc(t, bin, srv.Addr, "bob", "--heartbeat", "100ms", "--misses", "5")
	waitEvent(t, a, "channel from bob", opened("bob"))
	st, err := p.api.Status(tctx(t))
	if err != nil || !st.Online || st.Listen != p.listen.String() || st.UserID != "bob" {
		t.Fatalf("status %+v %v, readiness said %s", st, err, p.listen)
	}
	res, err := a.API.Chat(tctx(t), "bob", "to the process")
	if err != nil || res.Via != api.ViaP2P {
		t.Fatalf("chat %+v %v", res, err)
	}
	waitEvent(t, a, "ack from the process", acked(res.MessageID))

	// bob is frozen (SIGSTOP: no FIN, its sockets stay open, the kernel
	// still takes bytes): alice's message goes over the channel and cannot
	// be acked; the channel dies by heartbeat, the message goes again
	// through the server, and after the thaw bob reports it exactly once.
	t.Run("freeze", func(t *testing.T) {
		if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		defer p.cmd.Process.Signal(syscall.SIGCONT) // also when this fails
		eventually(t, "bob stopped", func() bool { return procState(p.cmd.Process.Pid) == 'T' })
		res, err := a.API.Chat(tctx(t), "bob", "while you were frozen")
		if err != nil {
			t.Fatal(err)
		}
		e := waitEvent(t, a, "heartbeat teardown", func(e api.Event) bool { return e.Type == api.EventChannelClosed && e.Peer == "bob" })
		if e.Reason != protocol.ReasonHeartbeatTimeout {
			t.Errorf("closed with %q, want heartbeat timeout", e.Reason)
		}
		if res.Via == api.ViaP2P {
			if r := waitEvent(t, a, "resend", isType(api.EventChatResent)); r.MessageID != res.MessageID || r.Via != api.ViaRelay {
				t.Errorf("chat_resent %+v", r)
			}
		} else {
			t.Logf("the channel was already gone when alice sent (loaded machine): no resend to check")
		}
		if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		if ack := waitEvent(t, a, "ack after the thaw", acked(res.MessageID)); ack.Via != api.ViaRelay {
			t.Errorf("acked via %q, want relay", ack.Via)
		}
		// a marker through the server: once bob has it, he has read
		// everything sent before it
		mark, err := a.API.Chat(tctx(t), "bob", "marker")
		if err != nil {
			t.Fatal(err)
		}
		evs := waitProcEvent(t, p, mark.MessageID)
		n := 0
		for _, e := range evs {
			if e.Type == api.EventChatReceived && e.MessageID == res.MessageID {
				n++
			}
		}
		if n != 1 {
			t.Errorf("bob reported the frozen-time message %d times, want 1", n)
		}
	})

	t.Run("sigterm", func(t *testing.T) {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-p.done:
			if err != nil {
				t.Errorf("exit: %v, want 0", err)
			}
		case <-time.After(waitTimeout):
			t.Fatal("no exit after SIGTERM")
		}
		waitEvent(t, a, "bob offline", func(e api.Event) bool { return e.Type == api.EventUserOffline && e.UserID == "bob" })
		u, _ := userStats(t, srv, "bob")
		if u.Online {
			t.Error("server still has bob online")
		}
	})
}

// TestProcessUsage: bad flags exit 2 with a message naming the flag.
func TestProcessUsage(t *testing.T) {
	bin := buildBinary(t)
	for _, args := range [][]string{
		{"client"},
		{"client", "--server", "nowhere", "--user", "x"},
		{"client", "--server", "127.0.0.1:1", "--user", "bad id"},
		{"client", "--server", "127.0.0.1:1", "--user", "x", "--misses", "0"},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || !regexp.MustCompile(`--(server|user|misses)`).Match(out) {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
}

// waitProcEvent waits until p reports chat_received for id and returns all
// of p's events.
func waitProcEvent(t *testing.T, p *proc, id string) []api.Event {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	var all []api.Event
	var after int64
	for time.Now().Before(deadline) {
		evs, err := p.api.Events(tctx(t), after, 500*time.Millisecond)
		if err != nil {
			t.Fatalf("process events: %v", err)
		}
		for _, e := range evs {
			all, after = append(all, e), e.Seq
			if e.Type == api.EventChatReceived && e.MessageID == id {
				return all
			}
		}
	}
	t.Fatalf("process never reported %s", id)
	return nil
}

// procState returns the state letter of a process (R, S, T, ...).
func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// pid (comm) state ...: comm may hold spaces, so look after the last ')'
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}
