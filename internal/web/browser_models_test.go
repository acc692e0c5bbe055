package web

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edged/edged/camera"
	"github.com/edged/edged/internal/mqtttest"
	"github.com/edged/edged/internal/shapes"
)

// The page in a real browser over the real models and the synthetic camera: labels that
// match the scene the camera rendered, BLIP's caption, a typed question answered by BLIP,
// and search: "a red circle" finds frames that show one, and each of the 15 "a <colour>
// <shape>" queries puts first a frame that shows the object whenever some remembered frame
// shows it (checked against the camera's truth).
func TestBrowserRealModels(t *testing.T) {
	b := newModelBackend(t, camera.Spec{Name: "demo", Kind: camera.KindSynthetic, FPS: 20, Width: 320, Height: 240,
		SceneEvery: 100 * time.Millisecond, Seed: 11})
	url := serveLoopback(t, New(b, Options{StatusEvery: time.Second}))
	br := newBrowser(t, 4*time.Minute)
	br.run("open the page", chromedp.Navigate(url))

	br.waitFor("the camera's frame", fmt.Sprintf(`(() => {
		const img = document.querySelector(%s);
		return !!img && img.complete && img.naturalWidth === 320;
	})()`, js(cameraSel("demo", "img.frame"))))

	// Labels: sample what the page shows on ten scenes of single objects, one frame each (a
	// scene's frames are one picture: CLIP reads them all alike); CLIP's top label must name
	// the object the camera drew (the shapes CLIP is right 99.6% of the time).
	type shown struct {
		Frame string `json:"frame"`
		Top   string `json:"top"`
	}
	readLabels := fmt.Sprintf(`(() => {
		const ol = document.querySelector(%s);
		const li = ol && ol.querySelector('li');
		return {frame: ol ? ol.dataset.frame : '', top: li ? li.dataset.label : ''};
	})()`, js(cameraSel("demo", ".labels ol")))
	seen, scenes := map[string]bool{}, map[string]bool{}
	right, sampled := 0, 0
	for sampled < 10 {
		var s shown
		br.eval("read the labels", readLabels, &s)
		if s.Frame == "" || seen[s.Frame] {
			br.waitFor("labels of a new frame", fmt.Sprintf(`(() => { const ol = document.querySelector(%s); return !!ol && ol.dataset.frame !== %s; })()`,
				js(cameraSel("demo", ".labels ol")), js(s.Frame)))
			continue
		}
		seen[s.Frame] = true
		seq, _ := strconv.ParseUint(s.Frame, 10, 64)
		truth, ok := b.truthOf(seq)
		if !ok {
			t.Fatalf("the page shows labels of frame %d, which the camera never delivered", seq)
		}
		objects := truth.labels()
		if len(objects) != 1 || scenes[truth.caption()] {
			continue
		}
		scenes[truth.caption()] = true
		sampled++
		if objects[0] == s.Top {
			right++
		} else {
			t.Logf("frame %d shows a %s; the page's top label is %q", seq, objects[0], s.Top)
		}
	}
	if right < 9 {
		t.Errorf("the top label named the object on %d of %d scenes", right, sampled)
	}

	// The caption is BLIP's, about one of the camera's frames.
	var caption string
	br.waitFor("a caption", fmt.Sprintf(`(() => { const c = document.querySelector(%s).textContent; return c !== '' && c !== 'no caption yet'; })()`,
		js(cameraSel("demo", ".caption"))))
	br.eval("read the caption", fmt.Sprintf(`document.querySelector(%s).textContent`, js(cameraSel("demo", ".caption"))), &caption)
	b.mu.Lock()
	captionFrame, said := b.captions[caption]
	b.mu.Unlock()
	if !said {
		t.Fatalf("the page shows the caption %q, which BLIP never said", caption)
	}
	truth, _ := b.truthOf(captionFrame)
	t.Logf("caption of frame %d: %q (the scene: %q)", captionFrame, caption, truth.caption())

	// A typed question gets BLIP's answer about the newest frame.
	const question = "how many shapes are there?"
	var answer struct{ Frame, Answer string }
	answer.Frame, answer.Answer = br.ask("demo", question)
	b.mu.Lock()
	given := b.answers[answer.Frame+"/"+question]
	b.mu.Unlock()
	if given == "" || given != answer.Answer {
		t.Fatalf("the page shows %q about frame %s; BLIP answered %q", answer.Answer, answer.Frame, given)
	}
	seq, _ := strconv.ParseUint(answer.Frame, 10, 64)
	truth, _ = b.truthOf(seq)
	t.Logf("%s → %q about frame %d, which shows %d shapes", question, answer.Answer, seq, len(truth.labels()))

	// Search, over a ring of about a hundred scenes, then frozen so the truth stays put.
	mqtttest.Eventually(t, "100 scenes remembered", 90*time.Second, func() bool { return b.rememberedScenes() >= 100 })
	present, alone := b.freeze()
	search := func(query string, k int) []string {
		t.Helper()
		return br.search(query, k)
	}
	truthOf := func(s string) frameTruth {
		seq, _ := strconv.ParseUint(s, 10, 64)
		sc, ok := b.truthOf(seq)
		if !ok {
			t.Fatalf("search returned frame %s, which the camera never delivered", s)
		}
		return sc
	}
	if !present["red circle"] {
		t.Fatal("no red circle among 100 scenes; choose another seed")
	}
	shows := 0
	for i, f := range search("a red circle", 8) {
		sc := truthOf(f)
		if sc.shows("red circle") {
			shows++
		} else if i == 0 {
			t.Errorf("a red circle: the best result, frame %s, shows %q", f, sc.caption())
		}
	}
	t.Logf("a red circle: %d of the 8 results show one", shows)

	// For each of the 15 objects that some remembered frame shows, the best result shows it.
	// Search scores frames against the label set's labels and pairs, so an object seen only
	// beside another is found too. Tolerance: one miss among the objects seen only beside
	// another, none among those seen alone. The ranking is no better than CLIP's reading of
	// a frame, and this small model misreads about one two-object frame query in 300
	// (recall's TestSearchQualityWithRealCLIP: 289 of 290).
	var misses, besideMisses []string
	for _, label := range shapes.Labels() {
		if !present[label] {
			continue
		}
		top := truthOf(search("a "+label, 1)[0])
		if top.shows(label) {
			continue
		}
		miss := fmt.Sprintf("%s (best: %q)", label, top.caption())
		if alone[label] {
			misses = append(misses, miss)
		} else {
			besideMisses = append(besideMisses, miss)
		}
	}
	t.Logf("%d objects remembered; the best result misses %v alone and %v beside another", len(present), misses, besideMisses)
	if len(misses) > 0 || len(besideMisses) > 1 {
		t.Errorf("the best result does not show the object for %v (seen alone) and %v (seen only beside another)", misses, besideMisses)
	}
	if errs := br.pageErrors(); len(errs) > 0 {
		t.Fatalf("the page had JavaScript errors: %q", errs)
	}
}
