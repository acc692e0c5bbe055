package hf

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// defaultCLIP and defaultBlip are transformers' CLIPConfig() and BlipConfig(), written out
// from testdata/default_configs.json (transformers 5.17's to_dict of each).
var defaultCLIP = CLIPConfig{
	ProjectionDim: 512, LogitScaleInitValue: 2.6592,
	Text: CLIPTextConfig{VocabSize: 49408, HiddenSize: 512, IntermediateSize: 2048, ProjectionDim: 512,
		NumHiddenLayers: 12, NumAttentionHeads: 8, MaxPositionEmbeddings: 77, HiddenAct: "quick_gelu",
		LayerNormEps: 1e-5, PadTokenID: 1, BosTokenID: 49406, EosTokenID: 49407},
	Vision: CLIPVisionConfig{HiddenSize: 768, IntermediateSize: 3072, ProjectionDim: 512, NumHiddenLayers: 12,
		NumAttentionHeads: 12, NumChannels: 3, ImageSize: 224, PatchSize: 32, HiddenAct: "quick_gelu", LayerNormEps: 1e-5},
}

var defaultBlip = BlipConfig{
	ProjectionDim: 512, LogitScaleInitValue: 2.6592, ImageTextHiddenSize: 256, TieWordEmbeddings: true,
	Text: BlipTextConfig{VocabSize: 30524, HiddenSize: 768, EncoderHiddenSize: 768, IntermediateSize: 3072,
		ProjectionDim: 768, NumHiddenLayers: 12, NumAttentionHeads: 8, MaxPositionEmbeddings: 512, HiddenAct: "gelu",
		LayerNormEps: 1e-12, BosTokenID: 30522, EosTokenIDs: []int{2}, PadTokenID: 0, SepTokenID: 102,
		IsDecoder: true, UseCache: true, TieWordEmbeddings: true},
	Vision: BlipVisionConfig{HiddenSize: 768, IntermediateSize: 3072, ProjectionDim: 512, NumHiddenLayers: 12,
		NumAttentionHeads: 12, ImageSize: 384, PatchSize: 16, HiddenAct: "gelu", LayerNormEps: 1e-5},
}

func parse(t *testing.T, js string) *Config {
	t.Helper()
	c, err := ParseConfig([]byte(js), "test.json")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The defaults filled in for an empty config are transformers' defaults: reading the full
// dictionaries transformers wrote gives the same configs as reading "{}".
func TestDefaultsMatchTransformers(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "default_configs.json"))
	if err != nil {
		t.Fatal(err)
	}
	var both map[string]json.RawMessage
	if err := json.Unmarshal(data, &both); err != nil {
		t.Fatal(err)
	}
	full, err := ParseConfig(both["CLIPConfig_default"], "default_configs.json")
	if err != nil {
		t.Fatal(err)
	}
	clipFull, err := full.CLIP()
	if err != nil {
		t.Fatal(err)
	}
	clipEmpty, err := parse(t, `{}`).CLIP()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*clipFull, defaultCLIP) || !reflect.DeepEqual(*clipEmpty, defaultCLIP) {
		t.Errorf("CLIP defaults:\nfrom transformers %+v\nfrom {}           %+v\nwant              %+v", *clipFull, *clipEmpty, defaultCLIP)
	}

	full, err = ParseConfig(both["BlipConfig_default"], "default_configs.json")
	if err != nil {
		t.Fatal(err)
	}
	blipFull, err := full.Blip()
	if err != nil {
		t.Fatal(err)
	}
	blipEmpty, err := parse(t, `{}`).Blip()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*blipFull, defaultBlip) || !reflect.DeepEqual(*blipEmpty, defaultBlip) {
		t.Errorf("BLIP defaults:\nfrom transformers %+v\nfrom {}           %+v\nwant              %+v", *blipFull, *blipEmpty, defaultBlip)
	}
}

// Partial sub-configs keep the defaults of the keys they leave out, as transformers' do.
func TestPartialConfig(t *testing.T) {
	c, err := parse(t, `{"text_config": {"hidden_size": 64, "num_attention_heads": 4}, "vision_config": {"image_size": [336, 336]}}`).CLIP()
	if err != nil {
		t.Fatal(err)
	}
	want := defaultCLIP
	want.Text.HiddenSize, want.Text.NumAttentionHeads = 64, 4
	want.Vision.ImageSize = 336
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("got %+v\nwant %+v", *c, want)
	}
	// Older checkpoints' text_config_dict overrides text_config.
	c, err = parse(t, `{"text_config": {"hidden_size": 64, "num_attention_heads": 4}, "text_config_dict": {"hidden_size": 128}}`).CLIP()
	if err != nil {
		t.Fatal(err)
	}
	if c.Text.HiddenSize != 128 || c.Text.NumAttentionHeads != 4 {
		t.Errorf("text_config_dict: hidden %d heads %d, want 128 and 4", c.Text.HiddenSize, c.Text.NumAttentionHeads)
	}
	// BLIP's cross-attention width follows the vision tower, whatever the file says.
	b, err := parse(t, `{"vision_config": {"hidden_size": 96, "num_attention_heads": 6}, "text_config": {"encoder_hidden_size": 768, "eos_token_id": [3, 7]}}`).Blip()
	if err != nil {
		t.Fatal(err)
	}
	if b.Text.EncoderHiddenSize != 96 || !reflect.DeepEqual(b.Text.EosTokenIDs, []int{3, 7}) {
		t.Errorf("encoder_hidden_size %d eos %v, want 96 and [3 7]", b.Text.EncoderHiddenSize, b.Text.EosTokenIDs)
	}
}

// The checkpoints the project ships and tests against, read field by field.
func TestCheckpointConfigs(t *testing.T) {
	read := func(name string) *Config {
		c, err := ReadConfig(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	clipTiny, err := read("clip_tiny/config.json").CLIP()
	if err != nil {
		t.Fatal(err)
	}
	want := CLIPConfig{ProjectionDim: 32, LogitScaleInitValue: 2.6592,
		Text: CLIPTextConfig{VocabSize: 714, HiddenSize: 64, IntermediateSize: 128, ProjectionDim: 32, NumHiddenLayers: 2,
			NumAttentionHeads: 4, MaxPositionEmbeddings: 16, HiddenAct: "quick_gelu", LayerNormEps: 1e-5, PadTokenID: 1,
			BosTokenID: 712, EosTokenID: 2},
		Vision: CLIPVisionConfig{HiddenSize: 64, IntermediateSize: 128, ProjectionDim: 32, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumChannels: 3, ImageSize: 32, PatchSize: 8, HiddenAct: "quick_gelu", LayerNormEps: 1e-5}}
	if !reflect.DeepEqual(*clipTiny, want) {
		t.Errorf("clip_tiny:\n got %+v\nwant %+v", *clipTiny, want)
	}
	shapesClip, err := read("shapes_clip_config.json").CLIP()
	if err != nil {
		t.Fatal(err)
	}
	if shapesClip.ProjectionDim != 48 || shapesClip.Text.MaxPositionEmbeddings != 32 || shapesClip.Vision.ImageSize != 64 ||
		shapesClip.Vision.PatchSize != 16 || shapesClip.Text.NumAttentionHeads != 6 || shapesClip.Text.HiddenSize != 96 {
		t.Errorf("shapes clip: %+v", *shapesClip)
	}

	blip, err := read("blip_caption_tiny_config.json").Blip()
	if err != nil {
		t.Fatal(err)
	}
	wantBlip := BlipConfig{ProjectionDim: 32, LogitScaleInitValue: 2.6592, ImageTextHiddenSize: 256, TieWordEmbeddings: true,
		Text: BlipTextConfig{VocabSize: 202, HiddenSize: 64, EncoderHiddenSize: 64, IntermediateSize: 128, ProjectionDim: 32,
			NumHiddenLayers: 2, NumAttentionHeads: 4, MaxPositionEmbeddings: 32, HiddenAct: "gelu", LayerNormEps: 1e-12,
			BosTokenID: 200, EosTokenIDs: []int{3}, PadTokenID: 0, SepTokenID: 3, IsDecoder: true, UseCache: true, TieWordEmbeddings: true},
		Vision: BlipVisionConfig{HiddenSize: 64, IntermediateSize: 128, ProjectionDim: 32, NumHiddenLayers: 2,
			NumAttentionHeads: 4, ImageSize: 32, PatchSize: 8, HiddenAct: "gelu", LayerNormEps: 1e-5}}
	if !reflect.DeepEqual(*blip, wantBlip) {
		t.Errorf("blip_caption_tiny:\n got %+v\nwant %+v", *blip, wantBlip)
	}
	vqa := read("shapes_blip_vqa_config.json")
	if arch, err := vqa.Architecture(); err != nil || arch != "BlipForQuestionAnswering" {
		t.Errorf("Architecture() = %q, %v", arch, err)
	}
	if mt, _ := vqa.ModelType(); mt != "blip" {
		t.Errorf("ModelType() = %q", mt)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name, js string
		read     func(*Config) error
		want     string
	}{
		{"wrong type", `{"text_config": {"hidden_size": "wide"}}`, clipErr, `test.json: text_config.hidden_size: want an integer, got "wide"`},
		{"fraction", `{"vision_config": {"patch_size": 16.5}}`, clipErr, "vision_config.patch_size: want an integer, got 16.5"},
		{"zero size", `{"projection_dim": 0}`, clipErr, "projection_dim: want a positive size, got 0"},
		{"heads", `{"text_config": {"hidden_size": 100, "num_attention_heads": 8}}`, clipErr, "text_config.hidden_size 100 is not a multiple of num_attention_heads 8"},
		{"blip read as clip", `{"model_type": "blip"}`, clipErr, `model_type is "blip", want "clip"`},
		{"clip read as blip", `{"model_type": "clip"}`, blipErr, `model_type is "clip", want "blip"`},
		{"sub not object", `{"vision_config": [1]}`, blipErr, "vision_config: want an object, got a list"},
		{"oblong image", `{"vision_config": {"image_size": [384, 512]}}`, blipErr, "vision_config.image_size: want one size or two equal sides, got [384 512]"},
		{"eos list item", `{"text_config": {"eos_token_id": [2, "x"]}}`, blipErr, `text_config.eos_token_id[1]: want an integer, got "x"`},
		{"clip eos list", `{"text_config": {"eos_token_id": [2, 3]}}`, clipErr, "text_config.eos_token_id: want an integer, got a list"},
		{"eps", `{"vision_config": {"layer_norm_eps": true}}`, blipErr, "vision_config.layer_norm_eps: want a number, got true"},
		// Sizes beyond what a device holds, ids outside the vocabulary and an epsilon that
		// makes every result NaN are errors naming the key, not allocations or broken models.
		{"huge width", `{"text_config": {"hidden_size": 1000000000, "num_attention_heads": 1}}`, clipErr, "text_config.hidden_size: 1000000000 is beyond edged's limit of 16384"},
		{"huge vocabulary", `{"text_config": {"vocab_size": 2147483647}}`, blipErr, "text_config.vocab_size: 2147483647 is beyond edged's limit of 1048576"},
		{"huge image", `{"vision_config": {"image_size": [100000, 100000]}}`, clipErr, "vision_config.image_size: want a size from 1 to 4096, got [100000 100000]"},
		{"many layers", `{"vision_config": {"num_hidden_layers": 100000}}`, blipErr, "vision_config.num_hidden_layers: 100000 is beyond edged's limit of 256"},
		{"negative eps", `{"text_config": {"layer_norm_eps": -1}}`, clipErr, "text_config.layer_norm_eps: want a small positive number such as 1e-5, got -1"},
		{"zero eps", `{"vision_config": {"layer_norm_eps": 0}}`, blipErr, "vision_config.layer_norm_eps: want a small positive number such as 1e-5, got 0"},
		{"eos outside the vocabulary", `{"text_config": {"vocab_size": 100, "bos_token_id": 0, "pad_token_id": 0}}`, clipErr, "text_config.eos_token_id: token id 49407 is outside the vocabulary of 100"},
		{"negative bos", `{"text_config": {"bos_token_id": -5}}`, blipErr, "text_config.bos_token_id: token id -5 is outside the vocabulary of 30524"},
		{"eos list outside", `{"text_config": {"eos_token_id": [2, 40000]}}`, blipErr, "text_config.eos_token_id[1]: token id 40000 is outside the vocabulary of 30524"},
		{"no architectures", `{"architectures": []}`, func(c *Config) error { _, err := c.Architecture(); return err }, "no architectures listed"},
		{"architectures not a list", `{"architectures": "CLIPModel"}`, func(c *Config) error { _, err := c.Architecture(); return err }, `architectures: want a list of strings, got "CLIPModel"`},
	}
	for _, c := range cases {
		err := c.read(parse(t, c.js))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "hf: test.json: ") {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	for _, bad := range []string{`[1, 2]`, `{"a": 1`, `{"a": 1} {}`, ``} {
		if _, err := ParseConfig([]byte(bad), "bad.json"); err == nil || !strings.Contains(err.Error(), "bad.json") {
			t.Errorf("ParseConfig(%q): %v", bad, err)
		}
	}
	if _, err := ReadConfig(filepath.Join(t.TempDir(), "config.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing config: %v", err)
	}
}

func clipErr(c *Config) error { _, err := c.CLIP(); return err }
func blipErr(c *Config) error { _, err := c.Blip(); return err }

// A checkpoint without generation_config.json gets what transformers derives from
// config.json; for the tiny captioner that is exactly the file transformers saved.
func TestGenerationConfig(t *testing.T) {
	saved, err := ReadConfig(filepath.Join("testdata", "blip_caption_tiny_generation_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	fromFile, err := ParseGenerationConfig(saved)
	if err != nil {
		t.Fatal(err)
	}
	want := GenerationConfig{BosTokenID: 200, EosTokenIDs: []int{3}, PadTokenID: 0, DecoderStartTokenID: -1,
		MaxLength: 20, NumBeams: 1, LengthPenalty: 1, RepetitionPenalty: 1, EarlyStopping: "false", UseCache: true,
		FromModelConfig: true}
	if !reflect.DeepEqual(*fromFile, want) {
		t.Errorf("from file:\n got %+v\nwant %+v", *fromFile, want)
	}
	model, err := ReadConfig(filepath.Join("testdata", "blip_caption_tiny_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	derived, err := GenerationConfigFromModel(model)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*derived, want) {
		t.Errorf("derived from config.json:\n got %+v\nwant %+v", *derived, want)
	}

	g, err := ParseGenerationConfig(parse(t, `{"num_beams": 3, "max_new_tokens": 30, "min_length": 5, "length_penalty": 0.6, "early_stopping": "never", "eos_token_id": [3, 102]}`))
	if err != nil {
		t.Fatal(err)
	}
	if g.NumBeams != 3 || g.MaxNewTokens != 30 || g.MinLength != 5 || g.LengthPenalty != 0.6 || g.EarlyStopping != "never" || !reflect.DeepEqual(g.EosTokenIDs, []int{3, 102}) {
		t.Errorf("parsed %+v", *g)
	}
	if g, _ := ParseGenerationConfig(parse(t, `{"early_stopping": true}`)); g.EarlyStopping != "true" {
		t.Errorf("early_stopping true: %q", g.EarlyStopping)
	}
	for js, want := range map[string]string{
		`{"early_stopping": "sometimes"}`: `early_stopping: want true, false or "never", got "sometimes"`,
		`{"num_beams": 0}`:                "num_beams: want a positive size",
		`{"max_length": "long"}`:          "max_length: want an integer",
		`{"max_length": 1e9}`:             "max_length: want 0 to 16384, got 1000000000",
		`{"num_beams": 100000}`:           "num_beams: 100000 is beyond edged's limit of 64",
		`{"no_repeat_ngram_size": -1}`:    "no_repeat_ngram_size: want 0 to 16384, got -1",
	} {
		if _, err := ParseGenerationConfig(parse(t, js)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", js, err, want)
		}
	}
}

func TestTokenizerConfig(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, filepath.Join("testdata", "shapes_blip_tokenizer_config.json"), filepath.Join(dir, "tokenizer_config.json"))
	tc, err := ReadTokenizerConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tc.TokenizerClass != "BertTokenizer" || tc.BosToken != "[DEC]" || tc.ClsToken != "[CLS]" || tc.SepToken != "[SEP]" ||
		tc.PadToken != "[PAD]" || tc.UnkToken != "[UNK]" || tc.MaskToken != "[MASK]" || tc.EosToken != "" ||
		!reflect.DeepEqual(tc.ExtraSpecialTokens, []string{"[ENC]"}) || tc.ModelMaxLength != 0 || tc.CleanUpTokenizationSpaces {
		t.Errorf("shapes BLIP tokenizer config: %+v", *tc)
	}
	if lower, err := tc.Config.Bool("do_lower_case", false); err != nil || !lower {
		t.Errorf("do_lower_case = %v, %v", lower, err)
	}

	// transformers 4.x layout: AddedToken objects, added_tokens_decoder, additional tokens,
	// a real model_max_length, and special_tokens_map.json filling in what is missing.
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{
		"bos_token": {"__type": "AddedToken", "content": "<|startoftext|>", "lstrip": false},
		"model_max_length": 77, "clean_up_tokenization_spaces": true,
		"additional_special_tokens": ["[ENC]"],
		"added_tokens_decoder": {"49407": {"content": "<|endoftext|>", "special": true}, "49406": {"content": "<|startoftext|>", "special": true, "normalized": false}}}`), 0o644)
	os.WriteFile(filepath.Join(dir, "special_tokens_map.json"), []byte(`{"bos_token": "ignored", "eos_token": {"content": "<|endoftext|>"}}`), 0o644)
	tc, err = ReadTokenizerConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantAdded := []AddedToken{{ID: 49406, Content: "<|startoftext|>", Special: true}, {ID: 49407, Content: "<|endoftext|>", Special: true, Normalized: true}}
	if tc.BosToken != "<|startoftext|>" || tc.EosToken != "<|endoftext|>" || tc.ModelMaxLength != 77 || !tc.CleanUpTokenizationSpaces ||
		!reflect.DeepEqual(tc.ExtraSpecialTokens, []string{"[ENC]"}) || !reflect.DeepEqual(tc.AddedTokens, wantAdded) {
		t.Errorf("4.x tokenizer config: %+v", *tc)
	}

	for js, want := range map[string]string{
		`{"model_max_length": 1e17}`:                                 "model_max_length: 1e+17 is beyond edged's limit of 16384 tokens",
		`{"added_tokens_decoder": {"2147483647": {"content": "x"}}}`: "added_tokens_decoder.2147483647: want a token id from 0 to 1048575",
	} {
		os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(js), 0o644)
		if _, err := ReadTokenizerConfig(dir); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", js, err, want)
		}
	}
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"pad_token": 3}`), 0o644)
	if _, err := ReadTokenizerConfig(dir); err == nil || !strings.Contains(err.Error(), "pad_token: want a token") {
		t.Errorf("bad token: %v", err)
	}
	if _, err := ReadTokenizerConfig(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing tokenizer_config.json: %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
