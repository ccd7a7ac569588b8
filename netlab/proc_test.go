package netlab

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// procLab brings up a one-host lab for process tests.
func procLab(t *testing.T, b *netnsBackend) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces)")
	}
	ctx := context.Background()
	topo := Topology{
		LANs:  []LAN{{Name: "l", Subnet: netip.MustParsePrefix("198.18.84.0/24")}},
		Hosts: []HostSpec{{Name: "a", NICs: []NIC{{LAN: "l"}}}},
	}
	lab, err := New(ctx, b, topo, Options{Dir: t.TempDir()})
	if lab != nil {
		t.Cleanup(func() { _ = lab.Close(ctx) })
	}
	if err != nil {
		t.Fatal(err)
	}
	return lab
}

// readState returns the state letter of a process (R, S, T, ...).
func readState(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

func TestStopIgnoringTERM(t *testing.T) {
	lab := procLab(t, NewNetns().(*netnsBackend))
	ctx := context.Background()
	h := lab.Host("a")
	out := filepath.Join(h.Dir(), "out")
	p, err := h.Start(ctx, Command{Argv: []string{"/bin/sh", "-c", `trap "" TERM; echo ready; exec sleep 60`}, Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(out)
		if strings.Contains(string(b), "ready") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("program did not start")
		}
		time.Sleep(5 * time.Millisecond) // poll interval of a deadline loop
	}
	start := time.Now()
	if err := p.Stop(ctx, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("Stop returned after %v, before the grace ran out", d)
	}
	if err := p.Wait(ctx); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Wait: %v, want killed (SIGKILL after grace)", err)
	}
}

func TestFreezeWithSignals(t *testing.T) {
	b := NewNetns().(*netnsBackend)
	lab := procLab(t, b)
	b.mu.Lock()
	b.cg = cgroupRoot{} // no freezer: SIGSTOP/SIGCONT
	b.mu.Unlock()
	ctx := context.Background()
	h := lab.Host("a")
	p, err := h.Start(ctx, Command{Argv: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	undo, err := h.Freeze(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitState := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for readState(p.Pid()) != want {
			if time.Now().After(deadline) {
				t.Fatalf("pid %d state %q, want %q", p.Pid(), readState(p.Pid()), want)
			}
			time.Sleep(5 * time.Millisecond) // poll interval of a deadline loop
		}
	}
	waitState("T")
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	waitState("S")
}
