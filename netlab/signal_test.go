package netlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv makes TestSignalChild bring up a lab with this run id.
const childEnv = "NETLAB_TEST_CHILD_RUN"

// TestSignalChild is the child half of TestInterruptAndCrash: it brings up
// a lab, starts a program, reports "ready <pid>" and waits to be signalled.
func TestSignalChild(t *testing.T) {
	run := os.Getenv(childEnv)
	if run == "" {
		t.Skip("child process of TestInterruptAndCrash only")
	}
	ctx := context.Background()
	topo := Topology{
		LANs:  []LAN{{Name: "l", Subnet: netip.MustParsePrefix("198.18.79.0/24")}},
		Hosts: []HostSpec{{Name: "a", NICs: []NIC{{LAN: "l"}}}, {Name: "b", NICs: []NIC{{LAN: "l"}}}},
	}
	// The parent owns the directory: a killed child runs no cleanup.
	lab, err := New(ctx, NewNetns(), topo, Options{RunID: run, Dir: os.Getenv(childEnv + "_DIR")})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	stop := lab.CloseOnSignal()
	defer stop()
	defer lab.Close(ctx)
	p, err := lab.Host("a").Start(ctx, Command{Argv: []string{"sleep", "60"}})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	if _, err := lab.Host("b").Cut(ctx); err != nil {
		fmt.Println("error", err)
		return
	}
	fmt.Printf("ready %d\n", p.Pid())
	time.Sleep(30 * time.Second) // the parent signals long before
}

func TestInterruptAndCrash(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces)")
	}
	ctx := context.Background()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			run := NewRunID()
			t.Cleanup(func() { _, _ = CleanRun(ctx, run) })
			cmd := exec.Command(os.Args[0], "-test.run=^TestSignalChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), childEnv+"="+run, childEnv+"_DIR="+t.TempDir())
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waited := false
			t.Cleanup(func() {
				if !waited {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}
			})
			line := make(chan string, 1)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					if s := sc.Text(); strings.HasPrefix(s, "ready ") || strings.HasPrefix(s, "error ") {
						line <- s
						break
					}
				}
				close(line)
				for sc.Scan() { // drain until the child exits
				}
			}()
			var pid int
			select {
			case s := <-line:
				if p, ok := strings.CutPrefix(s, "ready "); ok {
					pid, _ = strconv.Atoi(p)
				} else {
					t.Fatalf("child: %q", s)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("child not ready within 30s")
			}
			if len(exists(run)) == 0 || !RunAlive(run) {
				t.Fatalf("child lab not visible: %v, alive %v", exists(run), RunAlive(run))
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
				waited = true
			case <-time.After(30 * time.Second):
				t.Fatal("child did not exit within 30s")
			}
			// The program in the lab dies with the lab (or with its parent).
			deadline := time.Now().Add(5 * time.Second)
			for !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
				if time.Now().After(deadline) {
					t.Fatalf("program pid %d outlived the lab's process", pid)
				}
				time.Sleep(10 * time.Millisecond) // poll interval of a deadline loop
			}
			if RunAlive(run) {
				t.Error("run still alive after its process ended")
			}
			left := exists(run)
			if sig == syscall.SIGKILL {
				// A crash leaves the lab behind; clean removes it.
				if len(left) == 0 {
					t.Fatal("a SIGKILLed lab left nothing: the check is blind")
				}
				rm, err := CleanRun(ctx, run)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("clean after crash removed %v", rm)
				left = exists(run)
			}
			if len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}
