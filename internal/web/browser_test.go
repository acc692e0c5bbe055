package web

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// serveLoopback serves h on 127.0.0.1 only (httptest's default) and returns the page's URL.
func serveLoopback(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if host, _, _ := net.SplitHostPort(srv.Listener.Addr().String()); host != "127.0.0.1" {
		t.Fatalf("test server listens on %s, not loopback", host)
	}
	return srv.URL + "/"
}

// cameraSel selects inside a camera's card.
func cameraSel(camera, sel string) string {
	return fmt.Sprintf(`.camera[data-camera=%q] %s`, camera, sel)
}

// setValue sets a form field's value, as a user's editing would.
func setValue(sel, value string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`document.querySelector(%s).value = %s`, js(sel), js(value)), nil)
}

// js quotes a string for a JavaScript expression.
func js(s string) string { return strconv.Quote(s) }

// The page in a real browser, against the reference-replay backend: it shows each camera's
// frame, labels and caption, keeps the synthetic camera's frame fresh through server-sent
// events without reloading, answers a typed question, reports a refused one, and shows
// search results with thumbnails whose truth matches the query.
func TestBrowserPage(t *testing.T) {
	b := newRefBackend(t)
	var c = b.advance(t)
	for range len(b.ref.Cases) - 1 {
		c = b.advance(t)
	}
	url := serveLoopback(t, New(b, Options{StatusEvery: 500 * time.Millisecond}))
	br := newBrowser(t, 90*time.Second)
	br.run("open the page", chromedp.Navigate(url))
	// Mark this page load: a reload would lose the mark.
	br.run("mark the page", chromedp.Evaluate(`window.__edgedLoad = 1`, nil))

	const waitLong = 20 * time.Second
	shapesSeq := strconv.Itoa(len(b.ref.Cases))
	br.waitFor("the shapes camera's frame", fmt.Sprintf(`(() => {
		const img = document.querySelector(%s);
		return !!img && img.complete && img.naturalWidth === %d && img.dataset.seq === %s;
	})()`, js(cameraSel("shapes", "img.frame")), c.Image.Bounds().Dx(), js(shapesSeq)), waitLong)
	br.waitFor("labels led by CLIP's top label "+c.CLIPTop1, fmt.Sprintf(
		`document.querySelector(%s)?.dataset.label === %s`, js(cameraSel("shapes", ".labels li")), js(c.CLIPTop1)), waitLong)
	br.waitFor("the caption "+c.Caption, fmt.Sprintf(
		`document.querySelector(%s)?.textContent === %s`, js(cameraSel("shapes", ".caption")), js(c.Caption)), waitLong)
	br.waitFor("the health line", fmt.Sprintf(
		`/streaming · .* fps · \d+ captured · \d+ dropped/.test(document.querySelector(%s)?.textContent)`, js(cameraSel("synthetic", ".health"))), waitLong)
	br.waitFor("the MQTT state", `document.querySelector('#mqtt').textContent.startsWith('MQTT not connected to tcp://127.0.0.1:1')`, waitLong)
	br.waitFor("the model latencies", `document.querySelectorAll('#models tbody tr').length === 1`, waitLong)

	// The live camera's frame is replaced as new frames are announced, without a reload.
	frameSeq := fmt.Sprintf(`Number(document.querySelector(%s)?.dataset.seq || 0)`, js(cameraSel("synthetic", "img.frame")))
	br.waitFor("a synthetic frame", frameSeq+` > 0`, waitLong)
	var first int
	br.eval("read the frame number", frameSeq, &first)
	br.waitFor("a newer synthetic frame", fmt.Sprintf(`%s > %d`, frameSeq, first), waitLong)
	var marked bool
	br.eval("check the page was not reloaded", `window.__edgedLoad === 1 && performance.getEntriesByType('navigation').length === 1`, &marked)
	if !marked {
		t.Fatal("the page reloaded to show a new frame")
	}

	// Ask a question: the answer shown is transformers' answer for the scene.
	qa := c.QA[len(c.QA)-1]
	br.run("ask "+qa.Question,
		chromedp.SendKeys(cameraSel("shapes", `.ask input[name="question"]`), qa.Question, chromedp.ByQuery),
		chromedp.Click(cameraSel("shapes", ".ask button"), chromedp.ByQuery))
	br.waitFor("the answer "+qa.Answer, fmt.Sprintf(
		`document.querySelector(%s)?.textContent === %s`, js(cameraSel("shapes", ".ask-result .answer")), js(qa.Answer)), waitLong)
	// The answer also reaches the answers list, through the event stream.
	br.waitFor("the answer in the list", fmt.Sprintf(
		`document.querySelector(%s)?.textContent === %s`, js(cameraSel("shapes", ".answers li .a")), js(qa.Answer)), waitLong)
	// A camera without a VQA model says so.
	br.run("ask the synthetic camera",
		chromedp.SendKeys(cameraSel("synthetic", `.ask input[name="question"]`), "is there a red circle?", chromedp.ByQuery),
		chromedp.Click(cameraSel("synthetic", ".ask button"), chromedp.ByQuery))
	br.waitFor("the refusal", fmt.Sprintf(`(() => {
		const p = document.querySelector(%s);
		return p.classList.contains('error') && p.textContent.includes('no VQA model');
	})()`, js(cameraSel("synthetic", ".ask-result"))), waitLong)

	// Search: every hit is shown with its thumbnail; the best one shows the object.
	for _, label := range []string{"red triangle", "yellow triangle"} {
		br.run("search "+label,
			setValue("#search-q", ""),
			chromedp.SendKeys("#search-q", label, chromedp.ByQuery),
			setValue("#search-k", "4"),
			chromedp.Click(`#search-form button`, chromedp.ByQuery))
		br.waitFor("4 results with loaded thumbnails", fmt.Sprintf(`(() => {
			const s = document.querySelector('#search-status').textContent;
			const imgs = [...document.querySelectorAll('#search-results li img')];
			return s.includes(%s) && imgs.length === 4 && imgs.every(i => i.complete && i.naturalWidth > 0);
		})()`, js(label)), waitLong)
		var frames []string
		br.eval("read the results", `[...document.querySelectorAll('#search-results li')].map(li => li.dataset.frame)`, &frames)
		seq, _ := strconv.ParseUint(frames[0], 10, 64)
		if got := b.caseOf(seq); !got.Has(label) {
			t.Errorf("search %q: the best result, frame %d, shows %+v", label, seq, got.Scene.Objects)
		}
	}
	// A search the backend cannot serve shows its error.
	br.run("search something unknown",
		setValue("#search-q", ""),
		chromedp.SendKeys("#search-q", "a dog", chromedp.ByQuery),
		chromedp.Click(`#search-form button`, chromedp.ByQuery))
	br.waitFor("the search error", `(() => {
		const s = document.querySelector('#search-status');
		return s.className === 'error' && s.textContent.includes('no CLIP text model here') &&
			document.querySelectorAll('#search-results li').length === 0;
	})()`, waitLong)

	if errs := br.pageErrors(); len(errs) > 0 {
		t.Fatalf("the page had JavaScript errors: %q", errs)
	}
}
