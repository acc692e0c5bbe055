package confirm

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/blip/bliptest"
	"github.com/edged/edged/internal/shapes"
	"github.com/edged/edged/models"
	"github.com/edged/edged/runtime/tflite"
)

// itmModel is BLIP's image-text retrieval model with random weights (the golden tiny model of
// ../blip/testdata) and the shapes vocabulary: a real BLIP ITM whose numbers mean nothing
// (TestCheckerOnShapesTruth has the trained one). It checks that a Checker acts on
// what the model says, not that the model is right.
func itmModel(t *testing.T) *blip.Model {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a BLIP model")
	}
	m := bliptest.TinyITMModel(t)
	return m
}

func scene(t *testing.T, seed uint64) image.Image {
	t.Helper()
	img, err := shapes.Render(shapes.Random(rand.New(rand.NewPCG(seed, 1))), 320, 240, shapes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// directITM asks the model itself, on a session of its own.
func directITM(t *testing.T, m *blip.Model, img image.Image, text string) float64 {
	t.Helper()
	s, err := m.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	im, err := s.EncodeImage(img)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Match(im, text)
	if err != nil {
		t.Fatal(err)
	}
	return got.ITM
}

func TestCheckerWithBLIPITM(t *testing.T) {
	m := itmModel(t)
	bm, err := NewBLIPMatcher(m, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer bm.Close()
	img := scene(t, 3)
	prompts := []string{"a photo of a red circle", "a red circle"}
	want := []float64{directITM(t, m, img, prompts[0]), directITM(t, m, img, prompts[1])}
	best, bestPrompt := want[0], prompts[0]
	if want[1] > best {
		best, bestPrompt = want[1], prompts[1]
	}
	t.Logf("ITM %v for %q (random weights)", want, prompts)
	if best < 1e-5 || best > 1-1e-5 {
		t.Fatalf("ITM says %v; the thresholds below need room around it", best)
	}

	// Thresholds just below and just above what ITM says decide the verdict.
	for _, tc := range []struct {
		threshold float64
		confirmed bool
	}{{best - 1e-6, true}, {best + 1e-6, false}} {
		c, err := New(bm, Options{Threshold: tc.threshold})
		if err != nil {
			t.Fatal(err)
		}
		v, err := c.Start(context.Background(), "ev-1", img, prompts)
		if err != nil {
			t.Fatal(err)
		}
		if v.Confirmed != tc.confirmed || math.Abs(v.Score-best) > 1e-9 || v.Prompt != bestPrompt {
			t.Fatalf("threshold %v: verdict %+v; want confirmed %v, score %v for %q", tc.threshold, v, tc.confirmed, best, bestPrompt)
		}
		if c.Open() != 1 {
			t.Fatalf("%d open events", c.Open())
		}
		end, ok := c.End("ev-1")
		if !ok || end != v {
			t.Fatalf("end %+v (%v); want the start's verdict %+v", end, ok, v)
		}
		if _, ok := c.End("ev-1"); ok || c.Open() != 0 {
			t.Fatal("an ended event is still remembered")
		}
	}

	// Checks run in parallel on the session pool (run with -race).
	c, _ := New(bm, Options{})
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.Start(context.Background(), fmt.Sprint("ev-", i), img, prompts)
			if err != nil || math.Abs(v.Score-best) > 1e-9 {
				t.Errorf("parallel check %d: %+v, %v", i, v, err)
			}
		}()
	}
	wg.Wait()
	if c.Open() != 6 {
		t.Fatalf("%d open events, want 6", c.Open())
	}
	// A cancelled context gives no verdict.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Start(ctx, "ev-late", img, prompts); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestBLIPMatcherNeedsARetrievalModel(t *testing.T) {
	if testing.Short() {
		t.Skip("converts a BLIP model")
	}
	b, err := models.Open(context.Background(), "../../models/shapes/blip_vqa", models.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := blip.Load(b, blip.Options{Runtime: tflite.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := NewBLIPMatcher(m, 1); err == nil || !strings.Contains(err.Error(), "is a BlipForQuestionAnswering; image-text matching needs a BlipForImageTextRetrieval") {
		t.Fatalf("error %v", err)
	}
	if _, err := NewBLIPMatcher(nil, 1); err == nil {
		t.Fatal("no model accepted")
	}
}

// matcherFunc lets the bookkeeping tests say what the model answers.
type matcherFunc func(ctx context.Context, img image.Image, texts []string) ([]float64, error)

func (f matcherFunc) Match(ctx context.Context, img image.Image, texts []string) ([]float64, error) {
	return f(ctx, img, texts)
}

func TestCheckerBadInput(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	answer := func(scores []float64, err error) Matcher {
		return matcherFunc(func(context.Context, image.Image, []string) ([]float64, error) { return scores, err })
	}
	for _, tc := range []struct {
		name    string
		m       Matcher
		id      string
		img     image.Image
		prompts []string
		want    string
	}{
		{"no id", answer([]float64{1}, nil), "", img, []string{"x"}, "event has no id"},
		{"no prompts", answer([]float64{1}, nil), "e", img, nil, "the label has no prompts"},
		{"no picture", answer([]float64{1}, nil), "e", nil, []string{"x"}, "no picture"},
		{"empty picture", answer([]float64{1}, nil), "e", image.NewRGBA(image.Rect(0, 0, 0, 0)), []string{"x"}, "no picture"},
		{"model error", answer(nil, errors.New("interpreter failed")), "e", img, []string{"x"}, "ITM: interpreter failed"},
		{"wrong count", answer([]float64{0.5}, nil), "e", img, []string{"x", "y"}, "1 scores for 2 prompts"},
		{"NaN", answer([]float64{math.NaN()}, nil), "e", img, []string{"x"}, "is not in [0, 1]"},
		{"over one", answer([]float64{1.5}, nil), "e", img, []string{"x"}, "1.5 for \"x\" is not in [0, 1]"},
	} {
		c, err := New(tc.m, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Start(context.Background(), tc.id, tc.img, tc.prompts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if c.Open() != 0 {
			t.Errorf("%s: a failed check left a verdict", tc.name)
		}
	}
	for _, o := range []Options{{Threshold: -0.1}, {Threshold: 1.5}, {Threshold: math.NaN()}, {MaxOpen: -1}} {
		if _, err := New(answer(nil, nil), o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("no matcher accepted")
	}
}

// Events that never end cannot grow the Checker without bound.
func TestCheckerForgetsTheOldest(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	c, err := New(matcherFunc(func(_ context.Context, _ image.Image, texts []string) ([]float64, error) {
		return make([]float64, len(texts)), nil
	}), Options{MaxOpen: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := c.Start(context.Background(), fmt.Sprint("e", i), img, []string{"x"}); err != nil {
			t.Fatal(err)
		}
	}
	if c.Open() != 3 {
		t.Fatalf("%d open; want 3", c.Open())
	}
	for i := range 5 {
		if _, ok := c.End(fmt.Sprint("e", i)); ok != (i >= 2) {
			t.Errorf("event e%d remembered: %v", i, ok)
		}
	}
	// Score 0 against the default threshold: checked and not confirmed.
	v, _ := c.Start(context.Background(), "z", img, []string{"x"})
	if v.Confirmed || v.Score != 0 || v.Prompt != "x" {
		t.Fatalf("verdict %+v", v)
	}
}
