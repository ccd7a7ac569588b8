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

// groupStates returns the state letter of every process in process group
// pgid, read from /proc (independently of the backend's own wait).
func groupStates(t *testing.T, pgid int) map[int]string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]string{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		// After the command: state ppid pgrp ...
		f := strings.Fields(s[i+1:])
		if len(f) < 3 {
			continue
		}
		if g, err := strconv.Atoi(f[2]); err == nil && g == pgid {
			out[pid] = f[0]
		}
	}
	return out
}

// Freeze by signal returns only once every process of the host has
// stopped: a program busy on another CPU when SIGSTOP is sent must not run
// on after Freeze returns (a scenario's "freeze" step is in force when the
// next step starts). Two busy loops, one per core, in one process group.
func TestFreezeBySignalReturnsStopped(t *testing.T) {
	busy := Command{Argv: []string{"/bin/sh", "-c", `while :; do :; done & while :; do :; done`}}
	topo := Topology{
		LANs:  []LAN{{Name: "l", Subnet: netip.MustParsePrefix("198.18.84.0/24")}},
		Hosts: []HostSpec{{Name: "a", NICs: []NIC{{LAN: "l"}}}},
	}
	for _, tt := range []struct {
		name string
		lab  func(t *testing.T) *Lab
	}{
		{"netns without a freezer", func(t *testing.T) *Lab {
			b := NewNetns().(*netnsBackend)
			lab := procLab(t, b)
			b.mu.Lock()
			b.cg = cgroupRoot{} // no freezer: SIGSTOP/SIGCONT
			b.mu.Unlock()
			return lab
		}},
		{"local", func(t *testing.T) *Lab {
			ctx := context.Background()
			lab, err := New(ctx, NewLocal(), topo, Options{Dir: t.TempDir()})
			if lab != nil {
				t.Cleanup(func() { _ = lab.Close(ctx) })
			}
			if err != nil {
				t.Fatal(err)
			}
			return lab
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			h := tt.lab(t).Host("a")
			p, err := h.Start(ctx, busy)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Kill(context.Background()) })
			// Bounded: 20 freeze/thaw rounds while both loops spin.
			for round := range 20 {
				for len(groupStates(t, p.Pid())) < 2 {
					if ctx.Err() != nil {
						t.Fatal("the background loop did not start")
					}
					time.Sleep(time.Millisecond) // poll interval of a deadline loop
				}
				undo, err := h.Freeze(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for pid, st := range groupStates(t, p.Pid()) {
					if st != "T" {
						t.Fatalf("round %d: Freeze returned with pid %d in state %s, want T (stopped)", round, pid, st)
					}
				}
				if err := undo(ctx); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
