package matrixreport

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// shownCell is what the browser shows of one grid cell.
type shownCell struct {
	Row     string `json:"row"`
	Col     string `json:"col"`
	Pair    string `json:"pair"`
	Text    string `json:"text"`
	Class   string `json:"class"`
	BG      string `json:"bg"`
	Visible bool   `json:"visible"`
	Title   string `json:"title"`
}

// shownPair is what the browser shows of one pair's section.
type shownPair struct {
	ID       string   `json:"id"`
	Visible  bool     `json:"visible"`
	Heading  string   `json:"heading"`
	Trials   int      `json:"trials"`   // trial boxes laid out
	Timeline []string `json:"timeline"` // timeline lines laid out
	Links    []string `json:"links"`    // artifact hrefs as the page has them
}

// shown is what the browser shows of the page.
type shown struct {
	Cells    []shownCell `json:"cells"`
	Pairs    []shownPair `json:"pairs"`
	Selected []string    `json:"selected"`
	Scripts  int         `json:"scripts"`
	Summary  string      `json:"summary"`
}

// measureJS runs in the page: an element counts as shown only when the
// browser laid it out with a box.
const measureJS = `(() => {
  // checkVisibility also answers for content a closed <details> hides
  const vis = e => { const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && e.checkVisibility({contentVisibilityAuto: true, visibilityProperty: true}); };
  return {
    cells: [...document.querySelectorAll("td.cell")].map(td => ({
      row: td.dataset.row, col: td.dataset.col, pair: td.dataset.pair || "", text: td.innerText,
      class: td.className, bg: getComputedStyle(td).backgroundColor, visible: vis(td), title: td.title })),
    pairs: [...document.querySelectorAll("section.pair")].map(s => ({
      id: s.id, visible: vis(s), heading: s.querySelector("h2").innerText,
      trials: [...s.querySelectorAll("details.trial")].filter(vis).length,
      timeline: [...s.querySelectorAll("ol.timeline li")].filter(vis).map(li => li.innerText),
      links: [...s.querySelectorAll("p.artifacts a")].map(a => decodeURIComponent(a.getAttribute("href"))) })),
    selected: [...document.querySelectorAll("td.cell.selected")].map(td => td.dataset.pair),
    scripts: document.scripts.length,
    summary: document.getElementById("summary").innerText,
  };
})()`

// verdictBG is each verdict's cell background (page.html.tmpl).
var verdictBG = map[Verdict]string{
	Pass: "rgb(218, 251, 225)", Fail: "rgb(255, 216, 211)",
	Unsupported: "rgb(234, 238, 242)", Error: "rgb(255, 241, 184)",
}

// browser is a headless Chromium tab; the test's cleanup closes it.
type browser struct {
	ctx context.Context
	mu  sync.Mutex
	net []string // URLs requested
	bad []string // script exceptions and dialogs
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (make deps installs Debian's chromium): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium),
		chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.WindowSize(1400, 1000))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	b := &browser{ctx: bctx}
	if err := chromedp.Listen(bctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.net = append(b.net, e.Request.URL)
		case *runtime.EventExceptionThrown:
			b.bad = append(b.bad, "exception: "+e.ExceptionDetails.Text)
		case *page.EventJavascriptDialogOpening:
			b.bad = append(b.bad, "dialog: "+e.Message)
		}
	}); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return b
}

// load opens the page at path and waits for the grid.
func (b *browser) load(t *testing.T, path string) {
	t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Navigate("file://"+path), chromedp.WaitVisible(chromedp.CSS("table.grid"))); err != nil {
		t.Fatalf("chromium: load %s: %v", path, err)
	}
}

func (b *browser) measure(t *testing.T) shown {
	t.Helper()
	raw, err := chromedp.Run(b.ctx, chromedp.Evaluate[string]("JSON.stringify("+measureJS+")"))
	if err != nil {
		t.Fatalf("chromium: measure: %v", err)
	}
	var s shown
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatalf("measure: %v\n%s", err, raw)
	}
	return s
}

func (b *browser) click(t *testing.T, pair string) {
	t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`td.cell[data-pair="`+pair+`"]`))); err != nil {
		t.Fatalf("chromium: click %s: %v", pair, err)
	}
}

func (b *browser) screenshot(t *testing.T, path string) {
	t.Helper()
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("chromium: screenshot: %v", err)
	}
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	if keep := os.Getenv("P2PLAB_ARTIFACTS"); keep != "" {
		if err := os.MkdirAll(filepath.Join(keep, "matrixreport"), 0o755); err == nil {
			_ = os.WriteFile(filepath.Join(keep, "matrixreport", filepath.Base(path)), shot, 0o644)
		}
	}
}

// checkGrid returns how the grid as shown differs from r: one cell per
// pair of kinds, each run pair showing its verdict, paths, rate and p50
// in its verdict's colour, the others "not run".
func checkGrid(r *Report, s shown) []string {
	var bad []string
	kinds := r.kinds()
	if len(s.Cells) != len(kinds)*len(kinds) {
		bad = append(bad, fmt.Sprintf("%d cells shown, want %d", len(s.Cells), len(kinds)*len(kinds)))
	}
	for _, sc := range s.Cells {
		if !sc.Visible {
			bad = append(bad, fmt.Sprintf("cell %s → %s not laid out", sc.Row, sc.Col))
		}
		c := r.Cell(sc.Row, sc.Col)
		if c == nil {
			if sc.Text != "not run" || sc.Pair != "" {
				bad = append(bad, fmt.Sprintf("cell %s → %s: %q, want not run", sc.Row, sc.Col, sc.Text))
			}
			continue
		}
		// innerText follows the layout: one line per div, the verdict
		// upper-cased by CSS.
		want := strings.Join([]string{strings.ToUpper(string(c.Verdict)), c.achievedText() + " / " + expectedText(c.Expected), c.rateText(), "p50 " + dur(c.P50)}, "\n")
		if norm(sc.Text) != norm(want) || !strings.HasPrefix(sc.Text, strings.ToUpper(string(c.Verdict))+"\n") {
			bad = append(bad, fmt.Sprintf("cell %s → %s shows %q, want %q", sc.Row, sc.Col, sc.Text, want))
		}
		if want := c.pairName() + ": " + c.successText() + " trials passed; " + c.Reason; sc.Title != want {
			bad = append(bad, fmt.Sprintf("cell %s → %s: title %q, want %q", sc.Row, sc.Col, sc.Title, want))
		}
		if !strings.Contains(" "+sc.Class+" ", " v-"+string(c.Verdict)+" ") || sc.BG != verdictBG[c.Verdict] {
			bad = append(bad, fmt.Sprintf("cell %s → %s: class %q background %s, want v-%s in %s", sc.Row, sc.Col, sc.Class, sc.BG, c.Verdict, verdictBG[c.Verdict]))
		}
	}
	return bad
}

var spaces = regexp.MustCompile(`[\s\x{a0}]+`)

func norm(s string) string { return strings.TrimSpace(spaces.ReplaceAllString(s, " ")) }

// checkOpen returns how the page after a click on c's cell differs from
// what it must show: c's section alone, its cell selected, a box per
// trial, the timelines of the trials that did not pass, and the links.
func checkOpen(c *Cell, id string, s shown) []string {
	var bad []string
	if len(s.Selected) != 1 || s.Selected[0] != id {
		bad = append(bad, fmt.Sprintf("selected cells %v, want [%s]", s.Selected, id))
	}
	for _, p := range s.Pairs {
		if p.ID != id {
			if p.Visible {
				bad = append(bad, fmt.Sprintf("section %s shown after a click on %s", p.ID, id))
			}
			continue
		}
		if !p.Visible {
			bad = append(bad, fmt.Sprintf("section %s not shown after its cell was clicked", id))
			continue
		}
		if want := strings.ToUpper(string(c.Verdict)) + " " + c.pairName(); norm(p.Heading) != norm(want) {
			bad = append(bad, fmt.Sprintf("section %s heading %q, want %q", id, p.Heading, want))
		}
		if p.Trials != len(c.Trials) {
			bad = append(bad, fmt.Sprintf("section %s shows %d trials, want %d", id, p.Trials, len(c.Trials)))
		}
		var wantTL []string
		var wantLinks []string
		for _, t := range c.Trials {
			for _, a := range t.Artifacts {
				if unsafeURL(a.Path) {
					a.Path = "#ZgotmplZ" // html/template's refusal
				}
				wantLinks = append(wantLinks, a.Path)
			}
			if t.Verdict == Pass {
				continue // folded
			}
			for _, e := range t.Timeline {
				wantTL = append(wantTL, offset(e.At)+" "+e.Text)
			}
		}
		if got, want := fmt.Sprint(normAll(p.Timeline)), fmt.Sprint(normAll(wantTL)); got != want {
			bad = append(bad, fmt.Sprintf("section %s timeline %s, want %s", id, got, want))
		}
		if got, want := fmt.Sprint(p.Links), fmt.Sprint(wantLinks); got != want {
			bad = append(bad, fmt.Sprintf("section %s links %s, want %s", id, got, want))
		}
	}
	return bad
}

func normAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = norm(strings.ReplaceAll(s, "\n", " "))
	}
	return out
}

// TestPageInBrowser loads the fixture's page in headless Chromium and
// checks what it draws and what a click shows; then the same checks on a
// page with its style removed and on one without its script, which they
// must catch. The screenshots are in the test's temp dir (and in
// $P2PLAB_ARTIFACTS/matrixreport when that is set).
func TestPageInBrowser(t *testing.T) {
	r := fixture()
	dir := t.TempDir()
	var html bytes.Buffer
	if err := r.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, FileHTML)
	if err := os.WriteFile(good, html.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	b.load(t, good)
	s := b.measure(t)
	for _, e := range checkGrid(r, s) {
		t.Error(e)
	}
	if !strings.Contains(s.Summary, "8 pairs: 3 pass, 2 fail, 1 unsupported, 2 error") {
		t.Errorf("summary %q", s.Summary)
	}
	for _, p := range s.Pairs {
		if p.Visible {
			t.Errorf("section %s shown before any click", p.ID)
		}
	}
	b.screenshot(t, filepath.Join(dir, "grid.png"))

	ids := r.anchors()
	for _, pair := range [][2]string{{"full-cone", "symmetric"}, {"symmetric", "none"}, {hostile, "none"}, {"none", "none"}} {
		c := r.Cell(pair[0], pair[1])
		b.click(t, ids[c])
		for _, e := range checkOpen(c, ids[c], b.measure(t)) {
			t.Error(e)
		}
		if pair[0] == "full-cone" {
			b.screenshot(t, filepath.Join(dir, "pair.png"))
		}
	}
	// The keyboard opens a cell too.
	c := r.Cell("full-cone", "full-cone")
	if err := chromedp.Do(b.ctx, chromedp.Focus(chromedp.CSS(`td.cell[data-pair="`+ids[c]+`"]`)), chromedp.KeyEvent("\r")); err != nil {
		t.Fatalf("chromium: keyboard: %v", err)
	}
	for _, e := range checkOpen(c, ids[c], b.measure(t)) {
		t.Error("keyboard: " + e)
	}
	// The hostile strings are text: no script of theirs, no dialog, and
	// the javascript: link neutralised.
	s = b.measure(t)
	if s.Scripts != 1 {
		t.Errorf("%d scripts in the page, want the page's one", s.Scripts)
	}
	for _, p := range s.Pairs {
		if p.ID == ids[r.Cell(hostile, "none")] {
			if !strings.Contains(p.Heading, `<script>alert("x")</script>`) {
				t.Errorf("hostile heading %q, want the kind shown as text", p.Heading)
			}
			for _, l := range p.Links {
				if strings.HasPrefix(strings.ToLower(l), "javascript:") {
					t.Errorf("link %q kept its javascript: scheme", l)
				}
			}
		}
	}
	b.mu.Lock()
	if len(b.bad) > 0 {
		t.Errorf("the page raised %v", b.bad)
	}
	for _, u := range b.net {
		if !strings.HasPrefix(u, "file://"+good) {
			t.Errorf("the page fetched %s: it must be self-contained", u)
		}
	}
	b.mu.Unlock()

	// The default matrix's size fits a 1400 pixel window across.
	big := bigFixture()
	var bigHTML bytes.Buffer
	if err := big.WriteHTML(&bigHTML); err != nil {
		t.Fatal(err)
	}
	bigPath := filepath.Join(dir, "big.html")
	if err := os.WriteFile(bigPath, bigHTML.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	b.load(t, bigPath)
	for _, e := range checkGrid(big, b.measure(t)) {
		t.Error(e)
	}
	if w, err := chromedp.Run(b.ctx, chromedp.Evaluate[int]("document.documentElement.scrollWidth")); err != nil || w > 1400 {
		t.Errorf("the default matrix is %d pixels wide (%v), want no wider than the 1400 pixel window", w, err)
	}
	b.screenshot(t, filepath.Join(dir, "big.png"))
	b.load(t, good)

	// The checks catch a page that lost its colours...
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`(document.querySelector("style").remove(), true)`)); err != nil {
		t.Fatal(err)
	}
	if bad := checkGrid(r, b.measure(t)); len(bad) < len(r.Cells) {
		t.Errorf("without its style the grid passes the check with %d complaints, want one per run cell at least: %v", len(bad), bad)
	}
	// ... and one whose cells do not open.
	broken := regexp.MustCompile(`(?s)<script>.*</script>`).ReplaceAll(html.Bytes(), nil)
	noScript := filepath.Join(dir, "noscript.html")
	if err := os.WriteFile(noScript, broken, 0o644); err != nil {
		t.Fatal(err)
	}
	b.load(t, noScript)
	c = r.Cell("full-cone", "symmetric")
	b.click(t, ids[c])
	if bad := checkOpen(c, ids[c], b.measure(t)); len(bad) == 0 {
		t.Error("a page whose cells do not open passes the click check")
	}
}
