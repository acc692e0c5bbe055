package daemon

import (
	"context"
	"image"
	"os"
	"reflect"
	"sync"
	"testing"
)

// rankingCaptioner stands in for the BLIP captioner: asked for several candidates it returns
// three ranked ones; it records the options it was called with.
type rankingCaptioner struct {
	mu   sync.Mutex
	opts []CaptionOptions
}

func (c *rankingCaptioner) Caption(_ context.Context, _ image.Image, opts CaptionOptions) (Caption, error) {
	c.mu.Lock()
	c.opts = append(c.opts, opts)
	c.mu.Unlock()
	if opts.Candidates <= 1 {
		return Caption{Text: "the decoder's caption"}, nil
	}
	return Caption{Text: "best", Ranked: true, Score: 0.9,
		Candidates: []RankedCaption{{"best", 0.9}, {"second", 0.5}, {"third", 0.25}}}, nil
}

// A camera's caption.candidates, samples and rank reach the captioner, and the result says how
// the caption was chosen, with as many runners-up as caption.runners_up asks for.
func TestRankedCaptionResult(t *testing.T) {
	td := newTestDir(t)
	for _, m := range []string{"models/blip_caption", "models/blip_itm"} {
		if err := os.MkdirAll(td.path(m), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := td.write("config.yaml", `device: test
http: ""
mqtt: {broker: embedded, listen: '127.0.0.1:0'}
models: {blip_caption: models/blip_caption, blip_itm: models/blip_itm}
cameras:
  - name: cam
    source: {kind: synthetic, fps: 50, width: 64, height: 48}
    caption: {every: 10ms, candidates: 5, samples: 2, rank: itm, runners_up: 1}
`)
	captioner := &rankingCaptioner{}
	r := startDaemon(t, cfg, &Models{Captioner: captioner, Matcher: &testMatcher{}}, Options{})
	eventually(t, "a caption", func() bool { return r.rec.count(KindCaption) >= 1 })

	res := r.rec.of(KindCaption)[0]
	want := &CaptionRank{By: "itm", Score: 0.9, RunnersUp: []RankedCaption{{"second", 0.5}}}
	if res.Text != "best" || !reflect.DeepEqual(res.CaptionRank, want) {
		t.Errorf("caption %q ranked %+v, want \"best\" ranked %+v", res.Text, res.CaptionRank, want)
	}
	captioner.mu.Lock()
	defer captioner.mu.Unlock()
	if o := captioner.opts[0]; o.Candidates != 5 || o.Samples != 2 || o.Rank != "itm" || o.Beams != 1 || o.MaxTokens != 20 {
		t.Errorf("captioner options %+v", o)
	}
}
