package blip

import (
	"encoding/json"
	"fmt"
	"image"
	_ "image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	blipexport "github.com/edged/edged/blip/export"

	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/models"
	"github.com/edged/edged/runtime/tflite"
)

// The shapes models are the repository's demo checkpoints; transformers' captions and answers
// for the 24 reference scenes are in testdata/shapes_reference.json.
const shapesModels = "../models/shapes"

type shapesCase struct {
	Image            string  `json:"image"`
	CaptionGreedyIDs []int32 `json:"caption_greedy_ids"`
	CaptionBeam3IDs  []int32 `json:"caption_beam3_ids"`
	CaptionGreedy    string  `json:"caption_greedy"`
	CaptionBeam3     string  `json:"caption_beam3"`
	VQA              []struct {
		Question    string  `json:"question"`
		QuestionIDs []int32 `json:"question_ids"`
		AnswerIDs   []int32 `json:"answer_ids"`
		Answer      string  `json:"answer"`
	} `json:"vqa"`
}

func shapesCases(t testing.TB) []shapesCase {
	t.Helper()
	data, err := os.ReadFile("testdata/shapes_reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct{ Cases []shapesCase }
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) != 24 {
		t.Fatalf("%d reference scenes, want 24", len(ref.Cases))
	}
	return ref.Cases
}

var shapesImages sync.Map // path -> image.Image

func loadScene(t testing.TB, path string) image.Image {
	t.Helper()
	if img, ok := shapesImages.Load(path); ok {
		return img.(image.Image)
	}
	img := testutil.DecodeImage(t, filepath.Join("testdata", path))
	shapesImages.Store(path, img)
	return img
}

// shapesBundle converts a shapes checkpoint at p, once per test binary.
func shapesBundle(t testing.TB, name string, p graph.Precision) *bundle.Bundle {
	t.Helper()
	bundleMu.Lock()
	defer bundleMu.Unlock()
	key := "shapes/" + name + "/" + p.String()
	if b, ok := bundles[key]; ok {
		return b
	}
	out := filepath.Join(testCacheDir(t), "shapes-"+name+"-"+p.String())
	b, err := models.Convert(filepath.Join(shapesModels, name), out, convert.Options{Precision: p})
	if err != nil {
		t.Fatalf("convert %s: %v", name, err)
	}
	bundles[key] = b
	return b
}

// shapesBar is how many of transformers' outputs a precision must reproduce exactly:
// every one at fp32, and 22 of 24 captions and 110 of 120 answers where weights
// are rounded.
func shapesBar(p graph.Precision, total int) int {
	switch {
	case p == graph.FP32:
		return total
	case total == 24:
		return 22
	default:
		return 110
	}
}

func TestShapesCaptionsMatchTransformers(t *testing.T) {
	cases := shapesCases(t)
	for _, p := range []graph.Precision{graph.FP32, graph.FP16, graph.Int8Dynamic, graph.Int8Full} {
		t.Run(p.String(), func(t *testing.T) {
			m, s := openSession(t, shapesBundle(t, "blip_caption", p))
			greedyOK, beamOK := 0, 0
			for _, c := range cases {
				im, err := s.EncodeImage(loadScene(t, c.Image))
				if err != nil {
					t.Fatal(err)
				}
				o := m.GenerateDefaults()
				o.MaxNewTokens = 20
				got, err := s.CaptionIDs(im, nil, o)
				if err != nil {
					t.Fatal(err)
				}
				if slices.Equal(got, c.CaptionGreedyIDs) {
					greedyOK++
				} else {
					t.Logf("%s greedy: got %v, transformers %v", c.Image, got, c.CaptionGreedyIDs)
				}
				o.NumBeams = 3
				if got, err = s.CaptionIDs(im, nil, o); err != nil {
					t.Fatal(err)
				}
				if slices.Equal(got, c.CaptionBeam3IDs) {
					beamOK++
				} else {
					t.Logf("%s 3 beams: got %v, transformers %v", c.Image, got, c.CaptionBeam3IDs)
				}
			}
			t.Logf("%v: greedy %d/24, 3 beams %d/24 identical to transformers", p, greedyOK, beamOK)
			if bar := shapesBar(p, 24); greedyOK < bar || beamOK < bar {
				t.Errorf("%v: greedy %d/24 and 3 beams %d/24 identical, want at least %d", p, greedyOK, beamOK, bar)
			}
		})
	}
}

func TestShapesAnswersMatchTransformers(t *testing.T) {
	cases := shapesCases(t)
	for _, p := range []graph.Precision{graph.FP32, graph.FP16, graph.Int8Dynamic, graph.Int8Full} {
		t.Run(p.String(), func(t *testing.T) {
			m, s := openSession(t, shapesBundle(t, "blip_vqa", p))
			ok, total := 0, 0
			for _, c := range cases {
				im, err := s.EncodeImage(loadScene(t, c.Image))
				if err != nil {
					t.Fatal(err)
				}
				for _, q := range c.VQA {
					o := m.GenerateDefaults()
					o.MaxNewTokens = 5
					got, err := s.AnswerIDs(im, q.QuestionIDs, o)
					if err != nil {
						t.Fatal(err)
					}
					total++
					if slices.Equal(got, q.AnswerIDs) {
						ok++
					} else {
						t.Logf("%s %q: got %v, transformers %v (%q)", c.Image, q.Question, got, q.AnswerIDs, q.Answer)
					}
				}
			}
			t.Logf("%v: %d/%d answers identical to transformers", p, ok, total)
			if total != 120 || ok < shapesBar(p, total) {
				t.Errorf("%v: %d/%d answers identical, want at least %d of 120", p, ok, total, shapesBar(p, 120))
			}
		})
	}
}

// TestFullInt8BundleMixesPrecisions: at int8 only the vision tower is full int8, calibrated on
// images; the models that see text are int8-dynamic on edged's kernels, fp32 without them
// (TextPrecision).
func TestFullInt8BundleMixesPrecisions(t *testing.T) {
	for _, name := range []string{"blip_caption", "blip_vqa"} {
		b := shapesBundle(t, name, graph.Int8Full)
		if c := b.Manifest.Calibration; c == nil || c.Images != convert.DefaultCalibrationImages || c.Source != "shapes" {
			t.Errorf("%s: calibration %+v, want %d shapes scenes", name, c, convert.DefaultCalibrationImages)
		}
		for _, f := range b.Manifest.Files {
			if !strings.HasSuffix(f.Path, ".tflite") {
				continue
			}
			want := blipexport.TextPrecision(graph.Int8Full).String()
			if f.Role == spec.RoleVision {
				want = graph.Int8Full.String()
			}
			if f.Precision != want {
				t.Errorf("%s: %s is %s, want %s", name, f.Role, f.Precision, want)
			}
		}
	}
}

// TestShapesTextThroughTokenizer runs the text API: questions tokenized by the bundle's
// tokenizer must give transformers' ids, and captions and answers decode to its text.
func TestShapesTextThroughTokenizer(t *testing.T) {
	cases := shapesCases(t)
	cm, cs := openSession(t, shapesBundle(t, "blip_caption", graph.FP32))
	vm, vs := openSession(t, shapesBundle(t, "blip_vqa", graph.FP32))
	tok, err := vm.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		img := loadScene(t, c.Image)
		im, err := cs.EncodeImage(img)
		if err != nil {
			t.Fatal(err)
		}
		o := cm.GenerateDefaults()
		o.MaxNewTokens = 20
		if got, err := cs.Caption(im, "", o); err != nil || got != c.CaptionGreedy {
			t.Errorf("%s: caption %q (%v), transformers %q", c.Image, got, err, c.CaptionGreedy)
		}
		o.NumBeams = 3
		if got, err := cs.Caption(im, "", o); err != nil || got != c.CaptionBeam3 {
			t.Errorf("%s: 3-beam caption %q (%v), transformers %q", c.Image, got, err, c.CaptionBeam3)
		}
		vim, err := vs.EncodeImage(img)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range c.VQA {
			if ids := tok.Encode(q.Question); !slices.Equal(ids, q.QuestionIDs) {
				t.Errorf("%q encodes to %v, transformers %v", q.Question, ids, q.QuestionIDs)
			}
			o := vm.GenerateDefaults()
			o.MaxNewTokens = 5
			if got, err := vs.Answer(vim, q.Question, o); err != nil || got != q.Answer {
				t.Errorf("%s %q: answer %q (%v), transformers %q", c.Image, q.Question, got, err, q.Answer)
			}
		}
	}
}

// TestShapesPromptedCaption continues a prompt: the caption starts with it, as transformers'
// does.
func TestShapesPromptedCaption(t *testing.T) {
	m, s := openSession(t, shapesBundle(t, "blip_caption", graph.FP32))
	im, err := s.EncodeImage(loadScene(t, "scenes/scene_00.png"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Caption(im, "a yellow", m.GenerateDefaults())
	if err != nil {
		t.Fatal(err)
	}
	if want := "a yellow circle on a black background"; got != want {
		t.Errorf("caption of scene_00 prompted with %q: %q, want %q", "a yellow", got, want)
	}
}

// TestSessionsRunConcurrently: one Model, a Session per goroutine, the same captions as
// transformers in each.
func TestSessionsRunConcurrently(t *testing.T) {
	cases := shapesCases(t)
	b := shapesBundle(t, "blip_caption", graph.FP32)
	// One thread per interpreter: two goroutines with two spinning XNNPACK threads each on a
	// shared 2-core machine take a minute instead of a second.
	m, err := Load(b, Options{Runtime: tflite.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	images := make([]image.Image, len(cases))
	for i, c := range cases {
		images[i] = loadScene(t, c.Image) // t.Fatal belongs to this goroutine
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(cases))
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := m.NewSession()
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			for i, c := range cases {
				im, err := s.EncodeImage(images[i])
				if err != nil {
					errs <- err
					return
				}
				o := m.GenerateDefaults()
				o.MaxNewTokens = 20
				got, err := s.CaptionIDs(im, nil, o)
				if err != nil {
					errs <- err
					return
				}
				if !slices.Equal(got, c.CaptionGreedyIDs) {
					errs <- fmt.Errorf("%s: %v, transformers %v", c.Image, got, c.CaptionGreedyIDs)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
