package hf

import (
	"os"
	"path/filepath"
	"testing"
)

// Config files never panic the readers, and what they accept is within the limits: a size
// that passes is one a device can allocate, an id that passes is in the vocabulary.
func FuzzConfig(f *testing.F) {
	for _, name := range []string{"shapes_clip_config.json", "shapes_blip_vqa_config.json", "blip_caption_tiny_config.json",
		"blip_caption_tiny_generation_config.json", "shapes_clip_tokenizer_config.json", "shapes_blip_tokenizer_config.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, seed := range []string{`{}`, `{"text_config": {"vocab_size": -1}}`, `{"vision_config": {"image_size": [1e300, 1e300]}}`,
		`{"eos_token_id": [1, 2, 3], "num_beams": 1e20}`, `{"model_max_length": 1e30, "added_tokens_decoder": {"7": {"content": "x"}}}`,
		`{"text_config_dict": {"hidden_size": 96}, "text_config": null}`, `{"layer_norm_eps": 1e-400}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data, "fuzz.json")
		if err != nil {
			return
		}
		_, _ = c.Architecture()
		if cc, err := c.CLIP(); err == nil {
			checkCLIP(t, data, cc)
		}
		if bc, err := c.Blip(); err == nil {
			checkBlip(t, data, bc)
		}
		if g, err := ParseGenerationConfig(c); err == nil {
			if g.NumBeams < 1 || g.NumBeams > MaxBeams || g.MaxLength < 0 || g.MaxLength > MaxPositions || g.MaxNewTokens < 0 || g.MaxNewTokens > MaxPositions {
				t.Fatalf("%q: accepted generation config %+v", data, g)
			}
		}
		_, _ = GenerationConfigFromModel(c)
		if tc, err := ParseTokenizerConfig(c); err == nil {
			if tc.ModelMaxLength < 0 || tc.ModelMaxLength > MaxPositions {
				t.Fatalf("%q: accepted model_max_length %d", data, tc.ModelMaxLength)
			}
			for _, a := range tc.AddedTokens {
				if a.ID < 0 || a.ID >= MaxVocab {
					t.Fatalf("%q: accepted added token id %d", data, a.ID)
				}
			}
		}
	})
}

func within(v, max int) bool { return v >= 1 && v <= max }

func checkCLIP(t *testing.T, data []byte, c *CLIPConfig) {
	tx, v := c.Text, c.Vision
	ok := within(c.ProjectionDim, MaxWidth) && within(tx.VocabSize, MaxVocab) && within(tx.HiddenSize, MaxWidth) &&
		within(tx.IntermediateSize, MaxWidth) && within(tx.NumHiddenLayers, MaxLayers) && within(tx.NumAttentionHeads, MaxHeads) &&
		within(tx.MaxPositionEmbeddings, MaxPositions) && tx.HiddenSize%tx.NumAttentionHeads == 0 &&
		tx.EosTokenID >= 0 && tx.EosTokenID < tx.VocabSize && tx.LayerNormEps > 0 && v.LayerNormEps > 0 &&
		within(v.HiddenSize, MaxWidth) && within(v.IntermediateSize, MaxWidth) && within(v.NumHiddenLayers, MaxLayers) &&
		within(v.NumAttentionHeads, MaxHeads) && within(v.ImageSize, MaxImageSide) && within(v.PatchSize, MaxImageSide) &&
		within(v.NumChannels, MaxChannels) && v.HiddenSize%v.NumAttentionHeads == 0
	if !ok {
		t.Fatalf("%q: accepted CLIP config %+v", data, c)
	}
}

func checkBlip(t *testing.T, data []byte, c *BlipConfig) {
	tx, v := c.Text, c.Vision
	ok := within(tx.VocabSize, MaxVocab) && within(tx.HiddenSize, MaxWidth) && within(tx.IntermediateSize, MaxWidth) &&
		within(tx.NumHiddenLayers, MaxLayers) && within(tx.NumAttentionHeads, MaxHeads) && within(tx.MaxPositionEmbeddings, MaxPositions) &&
		tx.HiddenSize%tx.NumAttentionHeads == 0 && tx.LayerNormEps > 0 && v.LayerNormEps > 0 &&
		within(v.HiddenSize, MaxWidth) && within(v.NumHiddenLayers, MaxLayers) && within(v.ImageSize, MaxImageSide) &&
		within(v.PatchSize, MaxImageSide) && v.HiddenSize%v.NumAttentionHeads == 0
	for _, id := range append([]int{tx.SepTokenID, tx.BosTokenID, tx.PadTokenID}, tx.EosTokenIDs...) {
		ok = ok && id >= -1 && id < tx.VocabSize
	}
	if !ok {
		t.Fatalf("%q: accepted BLIP config %+v", data, c)
	}
}
