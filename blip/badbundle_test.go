package blip

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/models"
	"github.com/edged/edged/runtime/tflite"
)

// setValues is a manifest edit that sets values.
func setValues(values map[string]any) func(*bundle.Manifest) {
	return func(m *bundle.Manifest) {
		for k, v := range values {
			m.Values[k] = v
		}
	}
}

// Numbers of a manifest outside sane bounds, or that disagree with the config.json or the
// model files, are errors naming the value: decoder_cache 1e9 was a fatal out-of-memory and
// a short decoder cache or vocabulary reads outside TFLite's tensors.
func TestBadManifestValues(t *testing.T) {
	good := shapesBundle(t, "blip_caption", graph.FP32)
	loadErrors := []struct {
		name   string
		values map[string]any
		want   []string
	}{
		{"huge cache", map[string]any{spec.ValueDecoderCache: 1e9}, []string{"manifest.json", `value "decoder_cache" is 1000000000, want 1 to 16384`}},
		{"negative vocabulary", map[string]any{spec.ValueVocabSize: -1.0}, []string{`value "vocab_size" is -1, want 1 to 1048576`}},
		{"bos outside", map[string]any{spec.ValueBosTokenID: 5000.0}, []string{`value "bos_token_id" is 5000, want 0 to 201`}},
		{"many layers", map[string]any{spec.ValueTextLayers: 1e6}, []string{`value "text_layers" is 1000000, want 1 to 256`}},
		{"huge image", map[string]any{spec.ValueImageSize: 1e5}, []string{`value "image_size" is 100000, want 1 to 4096`}},
		{"other vocabulary", map[string]any{spec.ValueVocabSize: 300.0}, []string{"vocab_size 300 is not text_config.vocab_size 202"}},
		{"cache beyond the positions", map[string]any{spec.ValueDecoderCache: 100.0}, []string{"decoder_cache 100 is longer than text_config.max_position_embeddings 40"}},
		{"heads", map[string]any{spec.ValueTextHeads: 7.0}, []string{"text_hidden 96 does not split into 7 heads"}},
	}
	for _, c := range loadErrors {
		_, err := Load(testutil.EditedBundle(t, good, setValues(c.values)), Options{})
		testutil.WantError(t, c.name, err, c.want...)
	}
	// Within bounds but not the models' sizes: the session is refused before anything is
	// allocated from them.
	sessionErrors := []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"shorter cache", map[string]any{spec.ValueDecoderCache: 30.0}, "decoder_step model's self_bias is [1 1 1 41], the bundle's manifest gives [1 1 1 31]"},
		{"fewer layers", map[string]any{spec.ValueTextLayers: 2.0}, "decoder_step model has 16 inputs and 7 outputs, the bundle's manifest gives 12 and 5"},
		{"more image tokens", map[string]any{spec.ValueVisionTokens: 20.0}, "vision model's image_embeds is [1 17 96], the bundle's manifest gives [1 20 96]"},
		{"longer cross-attention", map[string]any{spec.ValueCrossLength: 18.0}, "decoder_step model's cross_bias is [1 1 17], the bundle's manifest gives [1 1 18]"},
	}
	for _, c := range sessionErrors {
		m, err := Load(testutil.EditedBundle(t, good, setValues(c.values)), Options{Runtime: tflite.Options{Threads: 1}})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		_, err = m.NewSession()
		testutil.WantError(t, c.name, err, c.want)
		m.Close()
	}
}

// A model whose numbers are NaN gives errors wrapping tflite.ErrNotFinite, never a caption
// of NaN scores.
func TestNaNModelIsAnError(t *testing.T) {
	for _, c := range []struct{ tensor, want string }{
		{"vision_model.post_layernorm.weight", `"image_embeds"`},
		{"text_decoder.cls.predictions.bias", `"logits"`},
	} {
		ckpt := testutil.PoisonedCheckpoint(t, filepath.Join(shapesModels, "blip_caption"), c.tensor)
		b, err := models.Convert(ckpt, filepath.Join(t.TempDir(), "bundle"), convert.Options{Precision: graph.FP32})
		if err != nil {
			t.Fatal(err)
		}
		m, s := openSession(t, b)
		var im *Image
		im, err = s.EncodeImage(loadScene(t, "scenes/scene_00.png"))
		if err == nil {
			_, err = s.Caption(im, "", m.GenerateDefaults())
		}
		if !errors.Is(err, tflite.ErrNotFinite) {
			t.Errorf("%s NaN: %v, want ErrNotFinite", c.tensor, err)
		}
		testutil.WantError(t, c.tensor, err, c.want)
	}
}

// A checkpoint whose tokenizer.json inference could not use is not converted: the bundle would
// carry the tokenizer and every start of the model would fail (or read outside its tables).
func TestConvertRefusesBrokenTokenizer(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(tok map[string]any)
		want string
	}{
		{"[SEP] outside the vocabulary", func(tok map[string]any) {
			tok["post_processor"].(map[string]any)["special_tokens"].(map[string]any)["[SEP]"].(map[string]any)["ids"] = []any{5000}
		}, "[SEP] token id 5000 is not in the vocabulary"},
		{"id beyond the text models", func(tok map[string]any) {
			tok["added_tokens"] = append(tok["added_tokens"].([]any), map[string]any{"id": 300, "content": "[EXTRA]", "special": true})
		}, "has ids up to 300, the model knows 202 tokens (text_config.vocab_size)"},
	} {
		ckpt := testutil.EditedCheckpoint(t, filepath.Join(shapesModels, "blip_caption"), "tokenizer.json", c.edit)
		out := filepath.Join(t.TempDir(), "bundle")
		_, err := models.Convert(ckpt, out, convert.Options{Precision: graph.FP32})
		testutil.WantError(t, c.name, err, c.want)
		if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the bundle folder was made (%v)", c.name, err)
		}
	}
}
