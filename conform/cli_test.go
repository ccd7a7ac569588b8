package conform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/conform"
	"github.com/p2plab/p2plab/conform/internal/defective"
)

// runCLI runs the built p2plab binary and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p2plabBin, args...)
	cmd.Dir = t.TempDir() // default artifacts land there, not in the tree
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	}
	t.Fatalf("p2plab %v: %v\n%s", args, err, out.String())
	return -1, ""
}

// The CLI's exit codes, reports and failure text, against the reference
// server and a defective one.
func TestCLIServer(t *testing.T) {
	parallelShort(t)
	target := referenceServer(t)
	bad, err := defective.NewServerProxy(target.Addr, defective.ForwardForged)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bad.Close)
	dir := t.TempDir()
	jsonPath, junitPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.xml")
	hb := []string{"--heartbeat", testHeartbeat.String(), "--misses", "2", "--admin", target.Admin}

	cases := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"list", []string{"conform", "server", "--list"}, 0, []string{"server/2.1/length-limit", "MUST"}},
		{"list client", []string{"conform", "client", "--list", "--run", "client/7.2"}, 0, []string{"client/7.2/log-send"}},
		{"no role", []string{"conform"}, 2, []string{"usage"}},
		{"no target", []string{"conform", "server"}, 2, []string{"exactly one of --addr"}},
		{"bad pattern", []string{"conform", "server", "--list", "--run", "server/42/*"}, 2, []string{"matches no requirement"}},
		{"bad addr", []string{"conform", "server", "--addr", "nowhere"}, 2, []string{"IP:PORT"}},
		{"image and addr", []string{"conform", "server", "--image", "x:y", "--addr", "127.0.0.1:1"}, 2, []string{"exactly one of --addr"}},
		{"reference", append([]string{"conform", "server", "--addr", target.Addr.String(), "--json", jsonPath, "--junit", junitPath}, hb...), 0, []string{"CONFORMS", "PASS  MUST   server/5.5/forged-sender"}},
		{"defective", append([]string{"conform", "server", "--addr", bad.Addr().String(), "--run", "server/5.5/forged-sender,server/5.4/relay-*"}, hb...), 1,
			[]string{"FAIL server/5.5/forged-sender [MUST, docs/protocol.md §5.5]", "expected:    Error forbidden", "DOES NOT CONFORM", "5 checks: 4 passed, 1 failed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runCLI(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, out)
			}
			for _, c := range tc.contains {
				if !strings.Contains(out, c) {
					t.Errorf("output lacks %q:\n%s", c, out)
				}
			}
		})
	}
	var rep conform.Report
	b, err := os.ReadFile(jsonPath)
	if err != nil || json.Unmarshal(b, &rep) != nil || !rep.Conforms || len(rep.Results) != len(conform.Catalogue(conform.RoleServer)) {
		t.Fatalf("json report: %v\n%s", err, b)
	}
	if b, err := os.ReadFile(junitPath); err != nil || !bytes.Contains(b, []byte(`<testcase name="server/2.1/length-limit"`)) {
		t.Fatalf("junit report: %v\n%s", err, b)
	}
}

// conform client --cmd against the reference client, with a running
// reference server.
func TestCLIClient(t *testing.T) {
	parallelShort(t)
	target := referenceServer(t)
	code, out := runCLI(t, "conform", "client", "--server", target.Addr.String(), "--run", "client/6.3,client/api/status",
		"--cmd", p2plabBin+" client --server {server} --user {user} --control {control} --log {log} --files {files} --heartbeat {heartbeat} --misses {misses}")
	if code != 0 || !strings.Contains(out, "CONFORMS") || !strings.Contains(out, "PASS  MUST   client/6.3/setup-first") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// conform server --cmd starts the server under test itself (here the
// reference server binary), on a lab host: local (loopback addresses of
// its own, no root) or, with auto as root, netns.
func TestCLIServerCmd(t *testing.T) {
	parallelShort(t)
	cmd := p2plabBin + " server --listen {listen} --admin {admin} --heartbeat {heartbeat} --misses {misses}"
	cases := []struct {
		lab, where string
	}{
		{"local", "against 127."},
		{"auto", "against 198.18."},
	}
	for _, tc := range cases {
		t.Run(tc.lab, func(t *testing.T) {
			if tc.lab == "auto" && os.Geteuid() != 0 {
				t.Skip("the netns lab needs root")
			}
			code, out := runCLI(t, "conform", "server", "--lab", tc.lab, "--heartbeat", "1s", "--misses", "2", "--cmd", cmd)
			if code != 0 || !strings.Contains(out, "CONFORMS") || strings.Contains(out, "SKIP") || !strings.Contains(out, tc.where) {
				t.Fatalf("exit %d:\n%s", code, out)
			}
		})
	}
}

// A program under test that cannot start, or exits at once, is reported as
// such (with its output), is not run anywhere else, and no checks run.
func TestCLIProgramFails(t *testing.T) {
	parallelShort(t)
	cases := []struct {
		name, role, cmd string
		contains        []string
	}{
		{"no such program", "server", "/no/such/program --listen {listen}", []string{"no such file"}},
		{"exits", "server", `sh -c 'echo cannot serve {listen} >&2; exit 3'`, []string{"the program exited", "cannot serve 127."}},
		{"no listen", "server", p2plabBin + " server", []string{"needs the {listen} placeholder"}},
		{"typo", "client", p2plabBin + " client --server {server} --user {user} --control {contrl}", []string{"unknown placeholder {contrl}"}},
		{"client no such program", "client", "/no/such/client --server {server} --user {user} --control {control}", []string{"no such file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runCLI(t, "conform", tc.role, "--lab", "local", "--cmd", tc.cmd)
			if code != 2 {
				t.Fatalf("exit %d, want 2:\n%s", code, out)
			}
			for _, c := range append(tc.contains, "p2plab conform "+tc.role+":") {
				if !strings.Contains(out, c) {
					t.Errorf("output lacks %q:\n%s", c, out)
				}
			}
			for _, c := range []string{"lab not available", "PASS", "FAIL", "requirements against"} {
				if strings.Contains(out, c) {
					t.Errorf("output has %q:\n%s", c, out)
				}
			}
		})
	}
}

// conform client without --server starts the reference server itself.
func TestCLIClientStartsServer(t *testing.T) {
	parallelShort(t)
	code, out := runCLI(t, "conform", "client", "--run", "client/6.5",
		"--cmd", p2plabBin+" client --server {server} --user {user} --control {control} --log {log} --files {files} --heartbeat {heartbeat} --misses {misses}")
	if code != 0 || !strings.Contains(out, "CONFORMS") || !strings.Contains(out, "PASS  MUST   client/6.5/relay-fallback") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// conform client -v shows the program's output on every lab backend, and
// the artifacts (--artifacts) keep what the output and the failure
// messages name: the program's logs, each check's P2PInfo log and events,
// and the report.
func TestCLIClientArtifacts(t *testing.T) {
	parallelShort(t)
	client := p2plabBin + " client --server {server} --user {user} --control {control} --log {log} --files {files} --heartbeat {heartbeat} --misses {misses}"
	// "long": a folder too long for the control sockets, so the checks run
	// in the host's folder and are copied when the lab closes.
	for _, name := range []string{"local", "netns", "long"} {
		t.Run(name, func(t *testing.T) {
			lab := name
			if name == "long" {
				lab = "local"
			}
			if lab == "netns" && os.Geteuid() != 0 {
				t.Skip("the netns lab needs root")
			}
			art := filepath.Join(t.TempDir(), "art")
			if name == "long" {
				art = filepath.Join(art, strings.Repeat("x", 90))
			}
			code, out := runCLI(t, "conform", "client", "-v", "--lab", lab, "--artifacts", art, "--run", "client/7.2/log-send",
				"--cmd", "sh -c 'echo marker-{user} >&2; exec "+client+"'")
			if code != 0 || !strings.Contains(out, "marker-") || !strings.Contains(out, "artifacts in "+art) {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			for _, f := range []string{"checks/0/p2pinfo.log", "checks/0/events.json", "report.json", "server/stderr.log", "timeline.jsonl"} {
				if b, err := os.ReadFile(filepath.Join(art, f)); err != nil || len(b) == 0 {
					t.Errorf("artifact %s: %v (%d bytes)", f, err, len(b))
				}
			}
			pathsExist(t, out, art)

			if name != "local" {
				return // the same code on netns; with "long" the failure names the host's folder, which goes with the lab
			}
			// A client that never serves its control API: the failure
			// names paths in the artifacts, and they are there.
			art = filepath.Join(t.TempDir(), "bad")
			code, out = runCLI(t, "conform", "client", "-v", "--lab", lab, "--artifacts", art, "--run", "client/api/status",
				"--cmd", "sh -c 'echo broken {server} {user} {control}; exec sleep 30'")
			if code != 1 || !strings.Contains(out, "broken ") || !strings.Contains(out, filepath.Join(art, "checks", "0", "ctl.sock")) {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			pathsExist(t, out, art)
		})
	}
}

// pathsExist fails t for a file under art that out names and is gone (a
// control socket's folder must be there; the socket itself goes with its
// program).
func pathsExist(t *testing.T, out, art string) {
	t.Helper()
	n := 0
	for _, w := range strings.FieldsFunc(out, func(r rune) bool { return strings.ContainsRune(" \t\n:\"'", r) }) {
		if !strings.HasPrefix(w, art) {
			continue
		}
		if strings.HasSuffix(w, ".sock") {
			w = filepath.Dir(w)
		}
		n++
		if _, err := os.Stat(w); err != nil {
			t.Errorf("the output names %s, which is gone: %v", w, err)
		}
	}
	if n == 0 {
		t.Errorf("the output names no path under %s:\n%s", art, out)
	}
}
