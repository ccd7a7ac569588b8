package htmlreport_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/p2plab/p2plab/internal/selfbuild"
)

// rendered is what the browser measured of one scenario's section.
type rendered struct {
	ID       string         `json:"id"`
	Verdict  string         `json:"verdict"`
	Lanes    []string       `json:"lanes"`    // hosts of lanes drawn with a height
	Bars     []string       `json:"bars"`     // "a-b" of channel bars drawn with a width
	Bands    []string       `json:"bands"`    // "kind@host" of fault bands drawn
	Messages map[string]int `json:"messages"` // via -> arrows drawn
	Pass     int            `json:"pass"`     // passed expectation markers
	Fail     int            `json:"fail"`     // failed expectation markers
	Failure  string         `json:"failure"`  // the failing step's box text
	Links    int            `json:"links"`
}

// measure runs in the page: it reports only elements the browser laid out
// with a non-empty box.
const measure = `(() => {
  // a rect or path must have an area; a line (a vertical arrow) a length
  const box = e => { const r = e.getBoundingClientRect();
    return e.tagName === "line" ? r.width > 0 || r.height > 0 : r.width > 0 && r.height > 0; };
  return [...document.querySelectorAll("section.scenario")].map(s => {
    const q = sel => [...s.querySelectorAll(sel)].filter(box);
    const msgs = {};
    q("g.message line").forEach(l => { const v = l.parentNode.dataset.via; msgs[v] = (msgs[v] || 0) + 1; });
    return {
      id: s.dataset.id,
      verdict: s.querySelector("h2 span").textContent,
      lanes: q("g.lane rect").map(r => r.parentNode.dataset.host),
      bars: q("g.channel-bar rect").map(r => r.parentNode.dataset.a + "-" + r.parentNode.dataset.b),
      bands: q("g.band rect").map(r => r.parentNode.dataset.kind + "@" + r.parentNode.dataset.host),
      messages: msgs,
      pass: q("g.marker.pass path").length,
      fail: q("g.marker.fail path").length,
      failure: (s.querySelector(".failure") || {textContent: ""}).textContent,
      links: s.querySelectorAll("ul.artifacts a").length,
    };
  });
})()`

// TestPageInBrowser makes a page from a real netns run of two scenarios,
// one that passes (relay-fallback) and one that must fail, loads it in
// headless Chromium and checks what it draws. The screenshot is kept in
// the artifacts (P2PLAB_ARTIFACTS, default <module>/artifacts/htmlreport).
func TestPageInBrowser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the netns lab needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN); run as root")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (make deps installs Debian's chromium): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin, err := selfbuild.Binary(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	root, err := selfbuild.Root()
	if err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(dir, "run")
	page := filepath.Join(art, "report.html")
	cmd := exec.CommandContext(ctx, bin, "run", "--artifacts", art, "--html", page,
		filepath.Join(root, "scenarios", "relay-fallback.yaml"), filepath.Join("testdata", "must-fail-via.yaml"))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("p2plab run: %v, want exit status 1 (one scenario fails on purpose)\n%s", err, out)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium),
		chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.WindowSize(1200, 900))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	if err := chromedp.Do(bctx, chromedp.Navigate("file://"+page), chromedp.WaitVisible("section.scenario")); err != nil {
		t.Fatalf("chromium: load %s: %v", page, err)
	}
	raw, err := chromedp.Run(bctx, chromedp.Evaluate[string]("JSON.stringify("+measure+")"))
	if err != nil {
		t.Fatalf("chromium: measure: %v", err)
	}
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("chromium: screenshot: %v", err)
	}
	keep := os.Getenv("P2PLAB_ARTIFACTS")
	if keep == "" {
		keep = filepath.Join(root, "artifacts", "htmlreport")
	}
	if err := os.MkdirAll(keep, 0o755); err == nil {
		p := filepath.Join(keep, "screenshot.png")
		if err := os.WriteFile(p, shot, 0o644); err == nil {
			t.Logf("screenshot: %s", p)
		}
	}
	var got []rendered
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("measure: %v\n%s", err, raw)
	}
	if len(got) != 2 {
		t.Fatalf("the page draws %d scenarios, want 2: %s", len(got), raw)
	}
	rf, mf := got[0], got[1]
	if rf.ID != "relay-fallback" || rf.Verdict != "PASS" || mf.ID != "must-fail-via" || mf.Verdict != "FAIL" {
		t.Fatalf("sections %s %s / %s %s, want relay-fallback PASS, must-fail-via FAIL", rf.ID, rf.Verdict, mf.ID, mf.Verdict)
	}
	for _, r := range got {
		if strings.Join(r.Lanes, ",") != "server,alice,bob" {
			t.Errorf("%s: lanes %v, want server, alice, bob", r.ID, r.Lanes)
		}
		if len(r.Bars) == 0 {
			t.Errorf("%s: no channel bar drawn", r.ID)
		}
		if r.Links < 5 {
			t.Errorf("%s: %d artifact links, want every artifact (timeline, logs, outputs)", r.ID, r.Links)
		}
	}
	// relay-fallback blocks alice, chats both ways by relay, then connects and chats p2p.
	if !contains(rf.Bands, "block@alice") {
		t.Errorf("relay-fallback: bands %v, want block over alice's lane", rf.Bands)
	}
	if rf.Messages["relay"] < 2 || rf.Messages["p2p"] < 1 {
		t.Errorf("relay-fallback: arrows %v, want >= 2 relay and >= 1 p2p", rf.Messages)
	}
	if rf.Fail != 0 || rf.Pass < 3 || rf.Failure != "" {
		t.Errorf("relay-fallback: markers pass %d fail %d, failure box %q; want only passed markers", rf.Pass, rf.Fail, rf.Failure)
	}
	// must-fail-via: the chat step fails, the page says where and why.
	if mf.Fail != 1 || !strings.Contains(mf.Failure, "step 2 failed") || !strings.Contains(mf.Failure, "via relay") {
		t.Errorf("must-fail-via: %d failed markers, failure box %q; want one failed marker and step 2's chat via relay named", mf.Fail, mf.Failure)
	}
	if mf.Messages["p2p"] < 1 {
		t.Errorf("must-fail-via: arrows %v, want the chat drawn as p2p (what was seen)", mf.Messages)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
