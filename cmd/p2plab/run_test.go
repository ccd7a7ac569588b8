package main

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/p2plab/p2plab/internal/junit"
	"github.com/p2plab/p2plab/internal/selfbuild"
	"github.com/p2plab/p2plab/netlab/docker"
	"github.com/p2plab/p2plab/sim"
)

// Ctrl-C during `p2plab run` ends the scenario as INTERRUPTED, not FAIL:
// on the console, in the JUnit (an error, not a failure) and JSON reports,
// and in the exit status (130).
func TestRunInterrupted(t *testing.T) {
	ctx, bin, dir := testBinary(t, true, 3*time.Minute)
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
	err := <-exited
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
			err := checkRoleTemplates(sim.BackendNetns, tt.server, tt.client, "", "")
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
	if err := checkRoleTemplates(sim.BackendDocker, sim.DefaultServerCommand, "/in/the/image --control {control}", "", ""); err != nil {
		t.Fatalf("docker: %v", err)
	}
}

// The p2plab binary the tests run, built once for the package (TestMain
// removes it).
var (
	builtOnce sync.Once
	builtDir  string
	built     string
	builtErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// testBinary skips t unless root (if needRoot) and returns a context
// bounded by timeout, the package's p2plab binary and a directory of t's.
func testBinary(t *testing.T, needRoot bool, timeout time.Duration) (context.Context, string, string) {
	t.Helper()
	if needRoot && os.Geteuid() != 0 {
		t.Skip("the lab needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	builtOnce.Do(func() {
		if builtDir, builtErr = os.MkdirTemp("", "p2plab-cmd-test-"); builtErr == nil {
			built, builtErr = selfbuild.Binary(ctx, builtDir)
		}
	})
	if builtErr != nil {
		t.Fatal(builtErr)
	}
	return ctx, built, t.TempDir()
}

// refClient is the reference client's template, with bin as its program.
func refClient(bin string) string {
	return bin + " client --server {server} --user {user} --control {control} --log {log} --files {files} --heartbeat {heartbeat} --misses {misses}"
}

// runBin runs the p2plab binary bin and returns its exit code and output.
func runBin(t *testing.T, ctx context.Context, bin string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir() // nothing lands in the source tree
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("p2plab %v: %v\n%s", args, err, out)
	return -1, ""
}

// `p2plab run` takes the ids that --list prints, and its JSON and JUnit
// reports name the role programs under test.
func TestRunIDsAndRoles(t *testing.T) {
	ctx, bin, dir := testBinary(t, false, 3*time.Minute)
	code, out := runBin(t, ctx, bin, "run", "--list")
	if code != 0 || !strings.Contains(out, "establish-pair ") {
		t.Fatalf("--list: exit %d\n%s", code, out)
	}
	code, out = runBin(t, ctx, bin, "run", "--backend", sim.BackendLocal, "no-such-scenario")
	if code != 2 || !strings.Contains(out, "no-such-scenario: no such file, nor a shipped scenario id") || !strings.Contains(out, "establish-pair") {
		t.Fatalf("unknown id: exit %d\n%s", code, out)
	}
	client := refClient(bin)
	report, junitPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "j.xml")
	code, out = runBin(t, ctx, bin, "run", "--backend", sim.BackendLocal, "--client-cmd", client, "--json", report, "--junit", junitPath,
		"--artifacts", filepath.Join(dir, "art"), "establish-pair")
	if code != 0 || !strings.Contains(out, "--- PASS establish-pair") || !strings.Contains(out, "p2plab run: client under test: "+client+"\n") {
		t.Fatalf("run establish-pair: exit %d\n%s", code, out)
	}
	var rep struct{ Results []sim.Result }
	b, err := os.ReadFile(report)
	if err != nil || json.Unmarshal(b, &rep) != nil || len(rep.Results) != 1 {
		t.Fatalf("json report (%v):\n%s", err, b)
	}
	roles := rep.Results[0].Roles
	if roles.Client.Command != client || roles.Server.Command != sim.DefaultServerCommand || roles.Binary != bin {
		t.Errorf("json report roles: %+v", roles)
	}
	var doc junit.Report
	b, _ = os.ReadFile(junitPath)
	if err := xml.Unmarshal(b, &doc); err != nil || len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != 1 {
		t.Fatalf("junit (%v):\n%s", err, b)
	}
	props := map[string]string{}
	for _, p := range doc.Suites[0].Cases[0].Properties {
		props[p.Name] = p.Value
	}
	if props["client.command"] != client || props["server.command"] != sim.DefaultServerCommand || props["binary"] != bin {
		t.Errorf("junit properties %v:\n%s", props, b)
	}
}

// `p2plab run --backend docker` runs a role from an image of its own
// (here the reference programs in a second image): a missing image fails
// the scenario naming it, so the flag is not ignored.
func TestRunImages(t *testing.T) {
	ctx, bin, dir := testBinary(t, true, 5*time.Minute)
	if err := docker.Available(ctx); err != nil {
		t.Skipf("no Docker engine answers: %v", err)
	}
	img, err := docker.BuildImage(ctx, bin)
	t.Cleanup(func() {
		if err := img.Remove(context.Background()); err != nil {
			t.Errorf("remove image: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	code, out := runBin(t, ctx, bin, "run", "--server-image", img.Tag, "establish-pair")
	if code != 2 || !strings.Contains(out, "need --backend docker") {
		t.Fatalf("image on netns: exit %d\n%s", code, out)
	}
	client := refClient(docker.BinaryPath)
	report := filepath.Join(dir, "r.json")
	code, out = runBin(t, ctx, bin, "run", "--backend", "docker", "--client-image", img.Tag, "--client-cmd", client,
		"--json", report, "--artifacts", filepath.Join(dir, "art"), "establish-pair")
	if code != 0 {
		t.Fatalf("client image: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(report); !strings.Contains(string(b), `"image": "`+img.Tag+`"`) {
		t.Errorf("json report lacks the client image:\n%s", b)
	}
	code, out = runBin(t, ctx, bin, "run", "--backend", "docker", "--client-image", "p2plab-no-such-image:0", "--client-cmd", client,
		"--artifacts", filepath.Join(dir, "art2"), "establish-pair")
	if code != 1 || !strings.Contains(out, "p2plab-no-such-image:0") {
		t.Fatalf("missing image: exit %d\n%s", code, out)
	}
}

// A scenario's client_args reach the clients: nat-punch-tcp passes with
// them and fails when the template swallows them (a template that wants
// none of them puts {client_args} where its program ignores it).
func TestRunClientArgs(t *testing.T) {
	ctx, bin, dir := testBinary(t, true, 3*time.Minute)
	client := refClient(bin)
	code, out := runBin(t, ctx, bin, "run", "--client-cmd", client, "--artifacts", filepath.Join(dir, "a1"), "nat-punch-tcp")
	if code != 0 {
		t.Fatalf("with the scenario's client_args: exit %d\n%s", code, out)
	}
	code, out = runBin(t, ctx, bin, "run", "--client-cmd", "sh -c 'exec "+client+"' sh {client_args}", "--artifacts", filepath.Join(dir, "a2"), "nat-punch-tcp")
	if code != 1 || !strings.Contains(out, "FAIL expect channels alice-bob transport tcp method tcp-punch") {
		t.Fatalf("without them: exit %d, want a failed channels expectation\n%s", code, out)
	}
}
