package blip

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/hf"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/models"
	"github.com/edged/edged/runtime/tflite"
)

// Tolerances against transformers' reference outputs.
const (
	logitsTol = 1e-3 // first_step_logits, greedy_prefix_logits
	matchTol  = 1e-4 // itm_logits, itc_cosine
)

var (
	bundleMu sync.Mutex
	bundles  = map[string]*bundle.Bundle{}
)

// tinyBundle converts testdata/<name> (a transformers checkpoint with random weights) at p,
// once per test binary.
func tinyBundle(t testing.TB, name string, p graph.Precision) *bundle.Bundle {
	t.Helper()
	bundleMu.Lock()
	defer bundleMu.Unlock()
	key := name + "/" + p.String()
	if b, ok := bundles[key]; ok {
		return b
	}
	out := filepath.Join(testCacheDir(t), name+"-"+p.String())
	b, err := models.Convert(filepath.Join("testdata", name), out, convert.Options{Precision: p})
	if err != nil {
		t.Fatalf("convert %s: %v", name, err)
	}
	bundles[key] = b
	return b
}

var (
	cacheOnce sync.Once
	cacheDir  string
	cacheErr  error
)

// testCacheDir is a folder shared by the tests of one run for converted bundles.
func testCacheDir(t testing.TB) string {
	cacheOnce.Do(func() {
		cacheDir, cacheErr = makeTempDir()
	})
	if cacheErr != nil {
		t.Fatal(cacheErr)
	}
	return cacheDir
}

// openSession opens a bundle's model and a session on it, closed with the test.
func openSession(t testing.TB, b *bundle.Bundle) (*Model, *Session) {
	t.Helper()
	m, err := Load(b, Options{Runtime: tflite.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSession()
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return m, s
}

// reference reads transformers' inputs and outputs of a tiny model.
type reference struct {
	t  testing.TB
	st *hf.Safetensors
}

func openReference(t testing.TB, name string) *reference {
	t.Helper()
	st, err := hf.OpenSafetensors(filepath.Join("testdata", name, "io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &reference{t, st}
}

func (r *reference) floats(name string) []float32 {
	r.t.Helper()
	v, err := r.st.Float32(name)
	if err != nil {
		r.t.Fatal(err)
	}
	return v
}

func (r *reference) ids(name string) []int32 {
	r.t.Helper()
	v, err := r.st.Int64(name)
	if err != nil {
		r.t.Fatal(err)
	}
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

// pixels reads pixel_values [1, 3, H, W] and returns them as NHWC.
func (r *reference) pixels() []float32 {
	r.t.Helper()
	info, err := r.st.Info("pixel_values")
	if err != nil {
		r.t.Fatal(err)
	}
	c, h, w := info.Shape[1], info.Shape[2], info.Shape[3]
	nchw := r.floats("pixel_values")
	out := make([]float32, len(nchw))
	for ch := 0; ch < c; ch++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				out[(y*w+x)*c+ch] = nchw[(ch*h+y)*w+x]
			}
		}
	}
	return out
}

var maxAbsDiff = testutil.MaxAbsDiff

func checkClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if d := maxAbsDiff(got, want); d > tol {
		t.Errorf("%s: max |diff| %.3g > %.0e (%d vs %d values)", what, d, tol, len(got), len(want))
	} else {
		t.Logf("%s: max |diff| %.3g", what, d)
	}
}

func checkIDs(t *testing.T, what string, got, want []int32) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func TestCaptionTinyMatchesTransformers(t *testing.T) {
	ref := openReference(t, "blip_caption_tiny")
	m, s := openSession(t, tinyBundle(t, "blip_caption_tiny", graph.FP32))
	im, err := s.EncodePixels(ref.pixels())
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "vision_last_hidden_state", im.Embeds(), ref.floats("vision_last_hidden_state"), logitsTol)

	// Teacher-forced logits through the step model and its cache.
	greedyIDs := ref.ids("greedy_ids")
	if err := s.dec.attend(im.embeds, m.visionTokens); err != nil {
		t.Fatal(err)
	}
	if err := s.dec.begin(1); err != nil {
		t.Fatal(err)
	}
	V := m.dec.vocab
	prefix := ref.floats("greedy_prefix_logits")
	for pos, id := range greedyIDs[:len(greedyIDs)-1] {
		logits, err := s.dec.step([]int32{id}, pos)
		if err != nil {
			t.Fatal(err)
		}
		if pos == 0 {
			checkClose(t, "first_step_logits", logits, ref.floats("first_step_logits"), logitsTol)
		}
		checkClose(t, fmt.Sprintf("greedy_prefix_logits[%d]", pos), logits, prefix[pos*V:(pos+1)*V], logitsTol)
	}

	o := m.GenerateDefaults()
	o.MaxNewTokens = 10
	got, err := s.CaptionIDs(im, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, "greedy_ids", got, greedyIDs)

	o.NumBeams, o.MinLength = 3, 5
	if got, err = s.CaptionIDs(im, nil, o); err != nil {
		t.Fatal(err)
	}
	checkIDs(t, "beam3_min5_ids", got, ref.ids("beam3_min5_ids"))

	o = m.GenerateDefaults()
	o.MaxNewTokens = 10
	if got, err = s.CaptionIDs(im, ref.ids("prompt_ids"), o); err != nil {
		t.Fatal(err)
	}
	checkIDs(t, "prompt_greedy_ids", got, ref.ids("prompt_greedy_ids"))
}

func TestVQATinyMatchesTransformers(t *testing.T) {
	ref := openReference(t, "blip_vqa_tiny")
	m, s := openSession(t, tinyBundle(t, "blip_vqa_tiny", graph.FP32))
	im, err := s.EncodePixels(ref.pixels())
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "vision_last_hidden_state", im.Embeds(), ref.floats("vision_last_hidden_state"), logitsTol)
	q := ref.ids("question_ids")
	states, n, err := s.QuestionStates(im, q)
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "question_last_hidden_state", states[:n*m.textHidden], ref.floats("question_last_hidden_state"), logitsTol)

	o := m.GenerateDefaults()
	o.MaxNewTokens = 8
	got, err := s.AnswerIDs(im, q, o)
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, "answer_greedy_ids", got, ref.ids("answer_greedy_ids"))
}

func TestITMTinyMatchesTransformers(t *testing.T) {
	ref := openReference(t, "blip_itm_tiny")
	_, s := openSession(t, tinyBundle(t, "blip_itm_tiny", graph.FP32))
	im, err := s.EncodePixels(ref.pixels())
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.MatchIDs(im, ref.ids("input_ids"))
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "itm_logits", got.ITMLogits[:], ref.floats("itm_logits"), matchTol)
	checkClose(t, "itc_cosine", []float32{float32(got.ITC)}, ref.floats("itc_cosine"), matchTol)
}
