package web

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/edged/edged/internal/recall/recalltest"
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
// newest frame as soon as it has loaded, then labels and caption, keeps the synthetic
// camera's frame fresh through server-sent events without reloading, answers a typed
// question, says so when an answer is about an older frame than the one shown, reports a
// refused question, keeps the ask boxes in place however captions and answers grow, and
// shows search results with thumbnails whose truth matches the query, one per scene.
func TestBrowserPage(t *testing.T) {
	b := newRefBackend(t)
	// Every reference scene twice: search folds the second into the first.
	var c recalltest.Case
	for range 2 * len(b.ref.Cases) {
		c = b.advance(t)
	}
	url := serveLoopback(t, New(b, Options{StatusEvery: 500 * time.Millisecond}))
	br := newBrowser(t, 90*time.Second)
	br.run("open the page", chromedp.Navigate(url))
	// Mark this page load: a reload would lose the mark.
	br.run("mark the page", chromedp.Evaluate(`window.__edgedLoad = 1`, nil))

	// Navigate returns once the page has loaded: the newest frame is on it already, with no
	// wait for the event stream.
	shapesSeq := strconv.Itoa(2 * len(b.ref.Cases))
	var atLoad struct {
		Complete bool   `json:"complete"`
		Width    int    `json:"width"`
		Seq      string `json:"seq"`
		Info     string `json:"info"`
	}
	br.eval("read the frame at load", fmt.Sprintf(`(() => {
		const img = document.querySelector(%s);
		const info = document.querySelector(%s);
		return img ? {complete: img.complete, width: img.naturalWidth, seq: img.dataset.seq || '', info: info.textContent} : {};
	})()`, js(cameraSel("shapes", "img.frame")), js(cameraSel("shapes", ".frame-info"))), &atLoad)
	if !atLoad.Complete || atLoad.Width != c.Image.Bounds().Dx() || atLoad.Seq != shapesSeq || !strings.HasPrefix(atLoad.Info, "frame "+shapesSeq) {
		t.Fatalf("right after load the shapes camera shows %+v; want frame %s, %d wide, complete", atLoad, shapesSeq, c.Image.Bounds().Dx())
	}
	br.waitFor("labels led by CLIP's top label "+c.CLIPTop1, fmt.Sprintf(
		`document.querySelector(%s)?.dataset.label === %s`, js(cameraSel("shapes", ".labels li")), js(c.CLIPTop1)))
	br.waitFor("the caption "+c.Caption, fmt.Sprintf(
		`document.querySelector(%s)?.textContent === %s`, js(cameraSel("shapes", ".caption")), js(c.Caption)))
	br.waitFor("the health line", fmt.Sprintf(
		`/streaming · .* fps · \d+ captured · \d+ dropped/.test(document.querySelector(%s)?.textContent)`, js(cameraSel("synthetic", ".health"))))
	br.waitFor("the MQTT state", `document.querySelector('#mqtt').textContent.startsWith('MQTT not connected to tcp://127.0.0.1:1')`)
	br.waitFor("the model latencies", `document.querySelectorAll('#models tbody tr').length === 1`)
	br.waitFor("the calibration of each model", fmt.Sprintf(`(() => {
		const li = [...document.querySelectorAll('#calibration li')];
		return li.length === 2 && li[0].textContent === %s && !li[0].classList.contains('error') &&
			li[1].textContent === %s && li[1].classList.contains('error');
	})()`, js("clip at int8 · calibration calibrated · gate passed · shadow checks passed (60 checks)"),
		js("blip_caption at int8-dynamic · calibration refused · gate mean cosine 0.9812 < 0.99 · 1 fallback")))

	// The live camera's frame is replaced as new frames are announced, without a reload.
	frameSeq := fmt.Sprintf(`Number(document.querySelector(%s)?.dataset.seq || 0)`, js(cameraSel("synthetic", "img.frame")))
	br.waitFor("a synthetic frame", frameSeq+` > 0`)
	var first int
	br.eval("read the frame number", frameSeq, &first)
	br.waitFor("a newer synthetic frame", fmt.Sprintf(`%s > %d`, frameSeq, first))
	var marked bool
	br.eval("check the page was not reloaded", `window.__edgedLoad === 1 && performance.getEntriesByType('navigation').length === 1`, &marked)
	if !marked {
		t.Fatal("the page reloaded to show a new frame")
	}

	// Where the ask boxes are: they must not move from here.
	askBoxes := `JSON.stringify([...document.querySelectorAll('.ask input, .ask button')].map(e => {
		const r = e.getBoundingClientRect(); return [r.x + scrollX, r.y + scrollY, r.width, r.height]; }))`
	var boxesBefore string
	br.eval("find the ask boxes", askBoxes, &boxesBefore)

	// Ask a question: the answer shown is transformers' answer for the scene.
	qa := c.QA[len(c.QA)-1]
	if frame, answer := br.ask("shapes", qa.Question); frame != shapesSeq || answer != qa.Answer {
		t.Fatalf("%s: the page shows %q about frame %s; want %q about frame %s", qa.Question, answer, frame, qa.Answer, shapesSeq)
	}
	// The answer also reaches the answers list, through the event stream.
	br.waitFor("the answer in the list", fmt.Sprintf(
		`document.querySelector(%s)?.textContent === %s`, js(cameraSel("shapes", ".answers li .a")), js(qa.Answer)))

	// A newer frame: the answers about the older one say so, and are greyed.
	b.advance(t)
	newSeq := strconv.Itoa(2*len(b.ref.Cases) + 1)
	br.waitFor("the newer frame "+newSeq, fmt.Sprintf(`document.querySelector(%s)?.dataset.seq === %s`, js(cameraSel("shapes", "img.frame")), js(newSeq)))
	for _, sel := range []string{".ask-result", ".answers li"} {
		br.waitFor("the answer marked as about an older frame", fmt.Sprintf(`(() => {
			const e = document.querySelector(%s);
			return e.classList.contains('older') && e.querySelector('.about').textContent === ' · about frame ' + %s + ' at ' + new Date(e.querySelector('.about').dataset.ts).toLocaleTimeString() + ' (an older frame)';
		})()`, js(cameraSel("shapes", sel)), js(shapesSeq)))
	}

	// Long captions and a pile of long answers: the ask boxes stay where they were.
	long := strings.Repeat("a red circle beside a blue square on a grey background, ", 6)
	_, info, _ := b.current()
	for i := range 12 {
		b.live.Answer("shapes", Answer{Frame: info, Question: fmt.Sprintf("question %d: %s?", i, long), Answer: long, Asked: true})
	}
	b.live.Caption("shapes", Caption{Frame: info, Caption: long, LatencyMs: 12})
	br.waitFor("the long caption and answers", fmt.Sprintf(`document.querySelector(%s)?.textContent === %s && document.querySelector(%s)?.textContent.startsWith('question 11:')`,
		js(cameraSel("shapes", ".caption")), js(long), js(cameraSel("shapes", ".answers li .q"))))
	var boxesAfter string
	br.eval("find the ask boxes again", askBoxes, &boxesAfter)
	if boxesAfter != boxesBefore {
		t.Errorf("the ask boxes moved as captions and answers grew: %s, then %s", boxesBefore, boxesAfter)
	}
	// A camera without a VQA model says so.
	br.run("ask the synthetic camera",
		chromedp.SendKeys(cameraSel("synthetic", `.ask input[name="question"]`), "is there a red circle?", chromedp.ByQuery),
		chromedp.Click(cameraSel("synthetic", ".ask button"), chromedp.ByQuery))
	br.waitFor("the refusal", fmt.Sprintf(`(() => {
		const p = document.querySelector(%s);
		return p.classList.contains('error') && p.textContent.includes('no VQA model');
	})()`, js(cameraSel("synthetic", ".ask-result"))))

	// Search: every hit is shown with its thumbnail; the best one shows the object; each is
	// another scene, standing for its copies.
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
		})()`, js(label)))
		var hits []struct {
			Frame   string `json:"frame"`
			Similar string `json:"similar"`
			Text    string `json:"text"`
		}
		br.eval("read the results", `[...document.querySelectorAll('#search-results li')].map(li => ({frame: li.dataset.frame, similar: li.dataset.similar, text: li.textContent}))`, &hits)
		seq, _ := strconv.ParseUint(hits[0].Frame, 10, 64)
		if got := b.caseOf(seq); !got.Has(label) {
			t.Errorf("search %q: the best result, frame %d, shows %+v", label, seq, got.Scene.Objects)
		}
		scenes := map[int]bool{}
		for _, h := range hits {
			seq, _ := strconv.ParseUint(h.Frame, 10, 64)
			scene := b.caseOf(seq).Index
			if scenes[scene] {
				t.Errorf("search %q: scene %d shown twice: %+v", label, scene, hits)
			}
			scenes[scene] = true
			// Scenes were replayed two or three times: their copies are counted.
			if h.Similar != "1" && h.Similar != "2" || !strings.Contains(h.Text, "+"+h.Similar+" similar") {
				t.Errorf("search %q: hit %+v; want it to count its scene's 1 or 2 other frames", label, h)
			}
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
	})()`)

	br.eval("find the ask boxes after searching", askBoxes, &boxesAfter)
	if boxesAfter != boxesBefore {
		t.Errorf("the ask boxes moved as search results came: %s, then %s", boxesBefore, boxesAfter)
	}
	if errs := br.pageErrors(); len(errs) > 0 {
		t.Fatalf("the page had JavaScript errors: %q", errs)
	}
}
