package clip

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip/spec"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/models"
	"github.com/edged/edged/runtime/tflite"
)

// Numbers of a manifest outside sane bounds, or that disagree with the model files, are errors
// naming the manifest and the value: each was a Go panic, a fatal allocation or garbage read
// outside a table before it was checked.
func TestBadManifestValues(t *testing.T) {
	good := testBundle(t, shapesModel, graph.FP32)
	manifest := filepath.Join("bundle", bundle.ManifestName)
	for _, c := range []struct {
		name  string
		value string
		v     any
		want  []string
	}{
		{"negative projection", spec.ValueProjection, -5.0, []string{manifest, `value "projection_dim" is -5, want 1 to 16384`}},
		{"huge projection", spec.ValueProjection, 1e9, []string{`value "projection_dim" is 1000000000, want 1 to 16384`}},
		{"huge context", spec.ValueContext, 1e9, []string{`value "context_length" is 1000000000, want 2 to 16384`}},
		{"context beyond the position table", spec.ValueContext, 64.0, []string{"context_length 64 is longer than text_config.max_position_embeddings 32"}},
		{"huge eos", spec.ValueEOSTokenID, 1e12, []string{`value "eos_token_id" is 1000000000000, want 0 to 1048575`}},
		{"eos outside the vocabulary", spec.ValueEOSTokenID, 5000.0, []string{"eos_token_id 5000 is outside the vocabulary of 714"}},
		{"infinite scale", spec.ValueLogitScale, 1e30, []string{`value "logit_scale" is 1e+30, want 0.001 to 10000`}},
		{"fractional size", spec.ValueProjection, 47.5, []string{`value "projection_dim" is 47.5, want an integer`}},
	} {
		b := testutil.EditedBundle(t, good, func(m *bundle.Manifest) { m.Values[c.value] = c.v })
		_, err := Load(b, Options{})
		testutil.WantError(t, c.name, err, c.want...)
	}

	b := testutil.EditedBundle(t, good, func(m *bundle.Manifest) {
		m.Files[0].Inputs[0].Shape = []int{1, 100000, 100000, 3}
	})
	_, err := Load(b, Options{})
	testutil.WantError(t, "a huge input", err, "of at most 4096 pixels a side")

	// Within bounds but not what the towers compute: the session says so.
	b = testutil.EditedBundle(t, good, func(m *bundle.Manifest) { m.Values[spec.ValueProjection] = 40.0 })
	m, err := Load(b, Options{RunOptions: RunOptions{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = m.NewSession()
	testutil.WantError(t, "another projection", err, "gives [1 48], the manifest's projection_dim says [1 40]")
	_, err = m.EmbedTokens([]int32{712, 5, 713})
	testutil.WantError(t, "another projection, text", err, "gives [3 48] for 3 tokens, the manifest's projection_dim says [3 40]")
}

// Token ids the text tower has no row for are refused before it runs (TFLite's GATHER reads
// outside its table for them).
func TestTokenIDsOutsideTheVocabulary(t *testing.T) {
	m := testModel(t, shapesModel, graph.FP32)
	for _, ids := range [][]int32{{712, 99999, 713}, {712, -7, 713}, {712, 714, 713}} {
		_, err := m.EmbedTokens(ids)
		testutil.WantError(t, "ids", err, "outside the vocabulary of 714")
	}
	if _, err := m.EmbedTokens([]int32{712, 713}); err != nil {
		t.Errorf("ids inside: %v", err)
	}
}

// A model whose numbers are NaN (here a damaged projection) gives errors wrapping
// tflite.ErrNotFinite, never NaN embeddings; the text cache keeps none of them.
func TestNaNModelIsAnError(t *testing.T) {
	b := poisonedBundle(t, "visual_projection.weight")
	cacheDir := t.TempDir()
	m, err := Load(b, Options{RunOptions: RunOptions{Threads: 1}, TextCacheDir: cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	img := decodePNG(t, "testdata/shapes/scenes/scene_00.png")
	_, err = m.EmbedImage(img)
	if !errors.Is(err, tflite.ErrNotFinite) || !strings.Contains(err.Error(), `"image_embeds"`) {
		t.Errorf("image embedding of a NaN model: %v", err)
	}
	if _, err := m.EmbedText("a red circle"); err != nil {
		t.Errorf("the text tower is sound: %v", err)
	}

	m2, err := Load(poisonedBundle(t, "text_projection.weight"), Options{RunOptions: RunOptions{Threads: 1}, TextCacheDir: cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	_, err = m2.EmbedText("a red circle")
	if !errors.Is(err, tflite.ErrNotFinite) {
		t.Errorf("text embedding of a NaN model: %v", err)
	}
	if m2.cache.Len() != 0 {
		t.Errorf("%d NaN embeddings cached", m2.cache.Len())
	}
}

// poisonedBundle converts the shapes CLIP at fp32 with the tensor's values NaN.
func poisonedBundle(t *testing.T, tensor string) *bundle.Bundle {
	t.Helper()
	ckpt := testutil.PoisonedCheckpoint(t, shapesModel, tensor)
	b, err := models.Convert(ckpt, filepath.Join(t.TempDir(), "bundle"), convert.Options{Precision: graph.FP32})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A checkpoint whose tokenizer.json inference could not use is not converted: the bundle would
// carry the tokenizer and every start of the model would fail (or read outside its tables).
func TestConvertRefusesBrokenTokenizer(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(tok map[string]any)
		want string
	}{
		{"negative id", func(tok map[string]any) { tok["model"].(map[string]any)["vocab"].(map[string]any)["!"] = -3 }, `token "!" has id -3`},
		{"id beyond the text tower", func(tok map[string]any) {
			tok["added_tokens"] = append(tok["added_tokens"].([]any), map[string]any{"id": 800, "content": "<|extra|>", "special": true})
		}, "has ids up to 800, the model knows 714 tokens (text_config.vocab_size)"},
	} {
		ckpt := testutil.EditedCheckpoint(t, shapesModel, "tokenizer.json", c.edit)
		out := filepath.Join(t.TempDir(), "bundle")
		_, err := models.Convert(ckpt, out, convert.Options{Precision: graph.FP32})
		testutil.WantError(t, c.name, err, c.want)
		if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the bundle folder was made (%v)", c.name, err)
		}
	}
}
