package blip

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/models"
)

func TestBadQuestions(t *testing.T) {
	m, s := openSession(t, shapesBundle(t, "blip_vqa", graph.FP32))
	im, err := s.EncodeImage(loadScene(t, "scenes/scene_00.png"))
	if err != nil {
		t.Fatal(err)
	}
	o := m.GenerateDefaults()
	_, err = s.Answer(im, "  \t", o)
	testutil.WantError(t, "blank question", err, "empty question")
	_, err = s.AnswerIDs(im, nil, o)
	testutil.WantError(t, "no question ids", err, "empty question")

	long := strings.Repeat("what color is the circle and ", 10) + "the square?"
	_, err = s.Answer(im, long, o)
	testutil.WantError(t, "long question", err, "question of", "longer than the model's context of 35 tokens")

	_, err = s.AnswerIDs(im, []int32{2, 99999, 3}, o)
	testutil.WantError(t, "id outside the vocabulary", err, "id 99999", "vocabulary of 202")

	// A caption model cannot answer, and the other way round.
	_, err = s.CaptionIDs(im, nil, o)
	testutil.WantError(t, "caption from a VQA bundle", err, "captioning needs a BlipForConditionalGeneration bundle", "BlipForQuestionAnswering")
	_, err = s.MatchIDs(im, []int32{2, 3})
	testutil.WantError(t, "match on a VQA bundle", err, "BlipForImageTextRetrieval")
}

func TestBadGenerationRequests(t *testing.T) {
	m, s := openSession(t, shapesBundle(t, "blip_caption", graph.FP32))
	im, err := s.EncodeImage(loadScene(t, "scenes/scene_03.png"))
	if err != nil {
		t.Fatal(err)
	}
	o := m.GenerateDefaults()
	o.MaxNewTokens = 100
	_, err = s.CaptionIDs(im, nil, o)
	testutil.WantError(t, "more tokens than the cache", err, "101 tokens", "exceed the decoder's 40 positions")
	o = m.GenerateDefaults()
	o.NumBeams = 0
	_, err = s.CaptionIDs(im, nil, o)
	testutil.WantError(t, "zero beams", err, "num_beams 0")
	_, err = s.CaptionIDs(im, []int32{2}, m.GenerateDefaults())
	testutil.WantError(t, "prompt without [SEP]", err, "prompt")
	_, err = s.EncodePixels(make([]float32, 10))
	testutil.WantError(t, "wrong pixel count", err, "10 pixel values", "want 12288")
	_, err = s.CaptionIDs(&Image{embeds: make([]float32, 3)}, nil, m.GenerateDefaults())
	testutil.WantError(t, "foreign image", err, "not encoded by this model")
}

// TestOtherClassesAreRefused: a checkpoint of a class edged does not convert as BLIP, and a
// bundle of another model family, give errors naming the class.
func TestOtherClassesAreRefused(t *testing.T) {
	dir := t.TempDir()
	cfg, err := os.ReadFile("testdata/blip_caption_tiny/config.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), `"BlipForConditionalGeneration"`, `"BlipModel"`, 1))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/blip_caption_tiny/model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = models.Convert(dir, filepath.Join(t.TempDir(), "out"), convert.Options{Precision: graph.FP32})
	testutil.WantError(t, "BlipModel checkpoint", err, `unsupported architecture "BlipModel"`)

	// A bundle of another architecture: the manifest says what it is.
	b := tinyBundle(t, "blip_caption_tiny", graph.FP32)
	other := *b
	mf := *b.Manifest
	mf.Architecture = "CLIPModel"
	other.Manifest = &mf
	_, err = Load(&other, Options{})
	testutil.WantError(t, "CLIP bundle", err, "holds a CLIPModel, not a BLIP model")

	// Weights of another class under a BLIP config: the missing tensor is named.
	cfg = []byte(strings.Replace(string(cfg), `"BlipModel"`, `"BlipForImageTextRetrieval"`, 1))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = models.Convert(dir, filepath.Join(t.TempDir(), "out"), convert.Options{Precision: graph.FP32})
	testutil.WantError(t, "caption weights as retrieval", err, "BlipForImageTextRetrieval weights", "vision_proj.weight", "not in")
}
