package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/p2plab/p2plab/internal/selfbuild"
	"github.com/p2plab/p2plab/sim"
)

// Ctrl-C during `p2plab run` ends the scenario as INTERRUPTED, not FAIL:
// on the console, in the JUnit (an error, not a failure) and JSON reports,
// and in the exit status (130).
func TestRunInterrupted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the lab needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin, err := selfbuild.Binary(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	scenario := filepath.Join(dir, "long.yaml")
	if err := os.WriteFile(scenario, []byte(`id: long
requirement: a run stopped by Ctrl-C is interrupted
topology: pair
steps:
  - start: [server, alice, bob]
  - wait: 60s
`), 0o644); err != nil {
		t.Fatal(err)
	}
	junit, report := filepath.Join(dir, "junit.xml"), filepath.Join(dir, "report.json")
	cmd := exec.CommandContext(ctx, bin, "run", "--junit", junit, "--json", report, "--artifacts", filepath.Join(dir, "art"), scenario, scenario)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); pw.Close() }()

	// Ctrl-C once the first step is done: the lab is up, the wait runs.
	var out strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if strings.Contains(line, "[ 0] ok") {
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = <-exited
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit %v, want status %d\n%s", err, exitInterrupted, out.String())
	}
	for _, want := range []string{"--- INTERRUPTED long", "0 passed, 0 failed, 1 interrupted", "1 scenarios not run: interrupted"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "--- FAIL") {
		t.Errorf("an interrupted run printed FAIL:\n%s", out.String())
	}
	j, _ := os.ReadFile(junit)
	if !strings.Contains(string(j), `failures="0" errors="1"`) || !strings.Contains(string(j), `type="interrupted"`) {
		t.Errorf("junit:\n%s", j)
	}
	r, _ := os.ReadFile(report)
	if !strings.Contains(string(r), `"verdict": "interrupted"`) {
		t.Errorf("json report:\n%s", r)
	}
}

// `p2plab run` refuses bad role templates before any lab comes up.
func TestCheckRoleTemplates(t *testing.T) {
	tests := []struct {
		name, server, client string
		want                 error
		text                 string
	}{
		{"defaults", sim.DefaultServerCommand, sim.DefaultClientCommand, nil, ""},
		{"no such program", sim.DefaultServerCommand, "/no/such/program --control {control}", fs.ErrNotExist, "no such file"},
		{"no control", sim.DefaultServerCommand, "{bin} client --server {server}", sim.ErrTemplate, "--client-cmd: sim: command template \"{bin} client --server {server}\" needs the {control} placeholder"},
		{"no listen", "{bin} server", sim.DefaultClientCommand, sim.ErrTemplate, "--server-cmd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkRoleTemplates(sim.BackendNetns, tt.server, tt.client)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("%v; want %v with %q", err, tt.want, tt.text)
			}
		})
	}
	// On docker the program is inside the image: not looked up here.
	if err := checkRoleTemplates(sim.BackendDocker, sim.DefaultServerCommand, "/in/the/image --control {control}"); err != nil {
		t.Fatalf("docker: %v", err)
	}
}
