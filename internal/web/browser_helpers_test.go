package web

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The browser tests drive Debian's headless chromium through the DevTools protocol
// (chromedp), against pages served on 127.0.0.1 only. Without chromium they are skipped,
// unless EDGED_BROWSER_TESTS=1 demands them (CI installs chromium with scripts/deps.sh).
// On failure a screenshot and the page's HTML are saved in EDGED_TEST_ARTIFACTS (default: a
// new folder under the system's temporary directory) and the test says where.

// chromiumPath finds the browser or skips the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a headless Chromium")
	}
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("EDGED_BROWSER_TESTS") == "1" {
		t.Fatal("chromium is not installed (apt-get install chromium, or scripts/deps.sh) and EDGED_BROWSER_TESTS=1 requires it")
	}
	t.Skip("chromium is not installed; the browser test needs it (EDGED_BROWSER_TESTS=1 makes this a failure)")
	return ""
}

// browser is a headless chromium tab for one test.
type browser struct {
	t      *testing.T
	ctx    context.Context // the tab, with the test's deadline
	tabCtx context.Context // the tab without it, for the screenshot after a timeout

	mu     sync.Mutex
	errors []string // uncaught JavaScript exceptions and CSP violations
}

// newBrowser starts chromium with a fresh profile and opens a tab; everything the test does
// with it must finish within timeout. On failure a screenshot is saved.
func newBrowser(t *testing.T, timeout time.Duration) *browser {
	t.Helper()
	path := chromiumPath(t)
	profile := freshProfile(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.WindowSize(1280, 1000),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	tabCtx := ctx
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	b := &browser{t: t, ctx: ctx, tabCtx: tabCtx}
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc() // stops chromium and waits for it
	})
	chromedp.ListenTarget(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			b.recordError("uncaught exception: " + ev.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value))
				}
				b.recordError("console.error: " + strings.Join(parts, " "))
			}
		}
	})
	// Start the browser now, so a broken installation fails here with its own message.
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("cannot start %s: %v", path, err)
	}
	t.Cleanup(b.saveOnFailure) // runs before the browser is stopped (cleanups run last first)
	return b
}

// freshProfile makes an empty profile folder and removes it after the test, once chromium's
// helper processes have stopped writing to it (they may outlive the browser by a moment).
func freshProfile(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "edged-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := os.RemoveAll(dir)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Logf("cannot remove the browser profile %s: %v", dir, err)
				return
			}
			time.Sleep(50 * time.Millisecond) // poll interval
		}
	})
	return dir
}

func (b *browser) recordError(msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, msg)
}

// pageErrors returns the JavaScript errors seen so far.
func (b *browser) pageErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// run runs chromedp actions, failing the test with what was being done.
func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// waitFor polls a JavaScript expression until it is truthy. It waits on what the page shows,
// never for a fixed time: until the test's deadline (newBrowser's timeout), so a loaded
// machine makes a test slower, not failed.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	var ok bool
	if err := chromedp.Run(b.ctx, chromedp.Poll(expr, &ok, chromedp.WithPollingTimeout(0), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		b.t.Fatalf("waiting for %s: %v\n(expression: %s)", what, err, expr)
	}
}

// eval evaluates a JavaScript expression into out.
func (b *browser) eval(what, expr string, out any) {
	b.t.Helper()
	b.run(what, chromedp.Evaluate(expr, out))
}

// saveOnFailure saves a screenshot and the page's HTML when the test failed.
func (b *browser) saveOnFailure() {
	if !b.t.Failed() {
		return
	}
	dir := os.Getenv("EDGED_TEST_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "edged-browser-"); err != nil {
			b.t.Logf("no screenshot: %v", err)
			return
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Logf("no screenshot: %v", err)
		return
	}
	// The test's own deadline may have passed; the capture gets a little time of its own.
	capCtx, capCancel := context.WithTimeout(b.tabCtx, 10*time.Second)
	defer capCancel()
	var png []byte // quality 100 makes a PNG
	var html string
	err := chromedp.Run(capCtx, chromedp.FullScreenshot(&png, 100), chromedp.OuterHTML("html", &html, chromedp.ByQuery))
	base := filepath.Join(dir, fmt.Sprintf("%s-%s", strings.ReplaceAll(b.t.Name(), "/", "_"), time.Now().Format("150405")))
	if err != nil {
		b.t.Logf("no screenshot: %v", err)
		return
	}
	if err := os.WriteFile(base+".png", png, 0o644); err != nil {
		b.t.Logf("no screenshot: %v", err)
		return
	}
	_ = os.WriteFile(base+".html", []byte(html), 0o644)
	b.t.Logf("screenshot of the failed page: %s.png (HTML beside it); JavaScript errors: %q", base, b.pageErrors())
}

// search types a query into the page's search form, waits until its k results have loaded
// their thumbnails, and returns the results' frame numbers, best first.
func (b *browser) search(query string, k int) []string {
	b.t.Helper()
	b.run("search "+query,
		setValue("#search-q", ""),
		chromedp.SendKeys("#search-q", query, chromedp.ByQuery),
		setValue("#search-k", strconv.Itoa(k)),
		chromedp.Click(`#search-form button`, chromedp.ByQuery))
	b.waitFor(fmt.Sprintf("%d results for %s", k, query), fmt.Sprintf(`(() => {
		const s = document.querySelector('#search-status').textContent;
		const imgs = [...document.querySelectorAll('#search-results li img')];
		return s.includes(%s) && imgs.length === %d && imgs.every(i => i.complete && i.naturalWidth > 0);
	})()`, js("“"+query+"”"), k))
	var frames []string
	b.eval("read the results", `[...document.querySelectorAll('#search-results li')].map(li => li.dataset.frame)`, &frames)
	return frames
}

// ask types a question into a camera's ask box, clicks Ask, waits for the answer, and returns
// the frame it is about and the answer as the page shows them. It waits on the page's own
// events, not for a fixed time: first the ask starting (the click reached the form: the page
// keeps the box in place, so the click lands where chromedp measured the button), then its
// answer or error, however long the models take on a loaded machine, within the test's
// deadline.
func (b *browser) ask(camera, question string) (frame, answer string) {
	b.t.Helper()
	result := js(cameraSel(camera, ".ask-result"))
	b.run("ask "+question,
		setValue(cameraSel(camera, `.ask input[name="question"]`), ""),
		chromedp.SendKeys(cameraSel(camera, `.ask input[name="question"]`), question, chromedp.ByQuery),
		chromedp.Click(cameraSel(camera, ".ask button"), chromedp.ByQuery))
	b.waitFor("the ask of "+question+" to start", fmt.Sprintf(`document.querySelector(%s)?.dataset.question === %s`, result, js(question)))
	b.waitFor("the answer to "+question, fmt.Sprintf(`document.querySelector(%s).dataset.state !== 'asking'`, result))
	var shown struct {
		State  string `json:"state"`
		Text   string `json:"text"`
		Frame  string `json:"frame"`
		Answer string `json:"answer"`
	}
	b.eval("read the answer", fmt.Sprintf(`(() => { const p = document.querySelector(%s);
		return {state: p.dataset.state, text: p.textContent, frame: p.dataset.frame || '', answer: p.querySelector('.answer')?.textContent || ''}; })()`, result), &shown)
	if shown.State != "answered" {
		b.t.Fatalf("ask %q: the page says %q (%s)", question, shown.Text, shown.State)
	}
	return shown.Frame, shown.Answer
}

// basicAuth answers the server's basic-auth challenges as a person typing into the browser's
// password dialog would, with user and password; it returns how many challenges came. The
// browser then sends the credentials itself with the page's later requests (frames, the event
// stream, the API), so a working page needs no more than the first.
func (b *browser) basicAuth(user, password string) *atomic.Int32 {
	var challenges atomic.Int32
	chromedp.ListenTarget(b.ctx, func(ev any) {
		var act chromedp.ActionFunc
		switch ev := ev.(type) {
		case *fetch.EventAuthRequired:
			challenges.Add(1)
			act = func(ctx context.Context) error {
				return fetch.ContinueWithAuth(ev.RequestID, &fetch.AuthChallengeResponse{
					Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: user, Password: password}).Do(ctx)
			}
		case *fetch.EventRequestPaused:
			act = func(ctx context.Context) error { return fetch.ContinueRequest(ev.RequestID).Do(ctx) }
		default:
			return
		}
		// Listeners must not block: answer from a goroutine, on the tab's executor.
		go func() {
			c := chromedp.FromContext(b.ctx)
			if err := act.Do(cdp.WithExecutor(b.ctx, c.Target)); err != nil && b.ctx.Err() == nil {
				b.recordError("answering an auth challenge: " + err.Error())
			}
		}()
	})
	b.run("handle auth challenges", fetch.Enable().WithHandleAuthRequests(true))
	return &challenges
}
