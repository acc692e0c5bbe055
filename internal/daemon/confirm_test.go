package daemon

import (
	"context"
	"errors"
	"image"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// testMatcher stands in for BLIP ITM: each label's prompts get the probability the test
// chose for the label's first prompt; prompts of a label it is told to fail on give an error.
// It records the texts it was asked about.
type testMatcher struct {
	mu    sync.Mutex
	score map[string]float64 // by first prompt
	fail  map[string]bool
	asked [][]string
}

func (m *testMatcher) Match(_ context.Context, img image.Image, texts []string) ([]float64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.asked = append(m.asked, texts)
	if img == nil || len(texts) == 0 {
		return nil, errors.New("no picture or no texts")
	}
	if m.fail[texts[0]] {
		return nil, errors.New("the ITM model failed")
	}
	out := make([]float64, len(texts))
	for i := range texts {
		out[i] = m.score[texts[0]] - 0.01*float64(i) // the first prompt scores best
	}
	return out, nil
}

// Events of the labels listed in labels.confirm are checked by ITM at their start, against the
// label's prompts, and carry the verdict (the end the start's); other labels' events are not
// checked, and a failed check leaves the event unchecked rather than dropping it.
func TestITMCheckedEvents(t *testing.T) {
	td := newTestDir(t)
	if err := os.MkdirAll(td.path("models/blip_itm"), 0o755); err != nil {
		t.Fatal(err)
	}
	td.write("set.yaml", "name: s\nthreshold: 0.5\nlabels:\n"+
		"  - {name: x, prompts: ['a photo of an x', 'an x']}\n  - {name: y, prompts: ['a y']}\n"+
		"  - {name: z, prompts: ['a z']}\n  - {name: w, prompts: ['a w']}\n")
	cfg := td.write("config.yaml", `device: test
http: ""
mqtt: {broker: embedded, listen: '127.0.0.1:0'}
models: {clip: models/clip, blip_itm: models/blip_itm}
cameras:
  - name: cam
    source: {kind: synthetic, fps: 50, width: 64, height: 48}
    labels:
      sets: [set.yaml]
      every: 10ms
      hysteresis: 0.1
      confirm: {labels: [x, y, w], threshold: 0.6}
`)
	labeler := newTestLabeler()
	matcher := &testMatcher{score: map[string]float64{"a photo of an x": 0.9, "a y": 0.3}, fail: map[string]bool{"a w": true}}
	r := startDaemon(t, cfg, &Models{Labeler: labeler, Matcher: matcher}, Options{})
	for _, l := range []string{"x", "y", "z", "w"} {
		labeler.setScore(l, 0.7)
	}
	eventually(t, "four starts", func() bool { return r.rec.count(KindEvent) >= 4 })
	for _, l := range []string{"x", "y", "z", "w"} {
		labeler.setScore(l, 0.1)
	}
	eventually(t, "four ends", func() bool { return r.rec.count(KindEvent) >= 8 })

	got := map[string]string{} // label → verdicts of start and end
	for _, res := range r.rec.of(KindEvent) {
		e := res.Event
		v := "unchecked"
		if c := e.Check; c != nil {
			v = "rejected"
			if c.Confirmed {
				v = "confirmed"
			}
			if e.Type == "start" && (e.Label == "x" && (c.Score != 0.9 || c.Prompt != "a photo of an x") || e.Label == "y" && c.Score != 0.3) {
				t.Errorf("%s %s: verdict %+v", e.Label, e.Type, *c)
			}
		}
		got[e.Label] += e.Type + ":" + v + " "
	}
	want := map[string]string{"x": "start:confirmed end:confirmed ", "y": "start:rejected end:rejected ",
		"z": "start:unchecked end:unchecked ", "w": "start:unchecked end:unchecked "}
	for l, w := range want {
		if got[l] != w {
			t.Errorf("events of %s: %q, want %q", l, got[l], w)
		}
	}
	matcher.mu.Lock()
	asked := slices.Clone(matcher.asked)
	matcher.mu.Unlock()
	if len(asked) != 3 || !slices.ContainsFunc(asked, func(texts []string) bool { return slices.Equal(texts, []string{"a photo of an x", "an x"}) }) {
		t.Errorf("ITM was asked %q; want the prompts of x, y and w once each", asked)
	}
	if !strings.Contains(r.logs.String(), "ITM check failed; event published unchecked") {
		t.Errorf("the failed check of w was not logged:\n%s", r.logs.Tail(20))
	}
	if c := itmCalls(t, r.d); c != 3 {
		t.Errorf("%v ITM calls in edged_inference_seconds; want 3", c)
	}
}

// itmCalls is the count of edged_inference_seconds{model="blip_itm"}.
func itmCalls(t *testing.T, d *Daemon) uint64 {
	t.Helper()
	fams, err := d.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "edged_inference_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "model" && l.GetValue() == modelBLIPITM {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}
