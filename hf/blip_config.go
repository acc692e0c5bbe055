package hf

import "fmt"

// BlipConfig is the config.json of a BLIP checkpoint (BlipForConditionalGeneration,
// BlipForQuestionAnswering, BlipForImageTextRetrieval) with the defaults transformers'
// BlipConfig applies to missing keys (those of Salesforce/blip-vqa-base).
type BlipConfig struct {
	Text                BlipTextConfig
	Vision              BlipVisionConfig
	ProjectionDim       int     // projection_dim (512): ITC embedding width
	LogitScaleInitValue float64 // logit_scale_init_value (2.6592)
	ImageTextHiddenSize int     // image_text_hidden_size (256)
	LabelSmoothing      float64 // label_smoothing (0)
	TieWordEmbeddings   bool    // tie_word_embeddings (true)
}

// BlipTextConfig is text_config of a BlipConfig: the BERT-style text encoder and decoder.
type BlipTextConfig struct {
	VocabSize  int // vocab_size (30524)
	HiddenSize int // hidden_size (768)
	// EncoderHiddenSize is the width cross-attention reads; transformers always sets it to
	// the vision tower's hidden_size, whatever the file says, and so does this package.
	EncoderHiddenSize     int
	IntermediateSize      int     // intermediate_size (3072)
	ProjectionDim         int     // projection_dim (768)
	NumHiddenLayers       int     // num_hidden_layers (12)
	NumAttentionHeads     int     // num_attention_heads (8)
	MaxPositionEmbeddings int     // max_position_embeddings (512)
	HiddenAct             string  // hidden_act ("gelu")
	LayerNormEps          float64 // layer_norm_eps (1e-12)
	BosTokenID            int     // bos_token_id (30522): [DEC], where decoding starts
	EosTokenIDs           []int   // eos_token_id ([2]): an id or a list in the file
	PadTokenID            int     // pad_token_id (0)
	// SepTokenID (102) is [SEP]; BLIP's generate stops at it, not at EosTokenIDs.
	SepTokenID        int
	IsDecoder         bool    // is_decoder (true)
	UseCache          bool    // use_cache (true)
	TieWordEmbeddings bool    // tie_word_embeddings (true)
	LabelSmoothing    float64 // label_smoothing (0)
}

// BlipVisionConfig is vision_config of a BlipConfig.
type BlipVisionConfig struct {
	HiddenSize        int     // hidden_size (768)
	IntermediateSize  int     // intermediate_size (3072)
	ProjectionDim     int     // projection_dim (512)
	NumHiddenLayers   int     // num_hidden_layers (12)
	NumAttentionHeads int     // num_attention_heads (12)
	ImageSize         int     // image_size (384)
	PatchSize         int     // patch_size (16)
	HiddenAct         string  // hidden_act ("gelu")
	LayerNormEps      float64 // layer_norm_eps (1e-5)
}

// Blip reads the config as a BlipConfig.
func (c *Config) Blip() (*BlipConfig, error) {
	f := &fields{c: c}
	f.modelType("blip")
	out := &BlipConfig{
		ProjectionDim:       f.sized("projection_dim", 512, MaxWidth),
		LogitScaleInitValue: f.float("logit_scale_init_value", 2.6592),
		ImageTextHiddenSize: f.sized("image_text_hidden_size", 256, MaxWidth),
		LabelSmoothing:      f.float("label_smoothing", 0),
		TieWordEmbeddings:   f.bool("tie_word_embeddings", true),
	}

	v := &fields{c: f.sub("vision_config")}
	v.modelType("blip_vision_model")
	out.Vision = BlipVisionConfig{
		HiddenSize:        v.sized("hidden_size", 768, MaxWidth),
		IntermediateSize:  v.sized("intermediate_size", 3072, MaxWidth),
		ProjectionDim:     v.sized("projection_dim", 512, MaxWidth),
		NumHiddenLayers:   v.sized("num_hidden_layers", 12, MaxLayers),
		NumAttentionHeads: v.sized("num_attention_heads", 12, MaxHeads),
		ImageSize:         v.square("image_size", 384, MaxImageSide),
		PatchSize:         v.square("patch_size", 16, MaxImageSide),
		HiddenAct:         v.str("hidden_act", "gelu"),
		LayerNormEps:      v.eps("layer_norm_eps", 1e-5),
	}
	v.heads(out.Vision.HiddenSize, out.Vision.NumAttentionHeads)

	t := &fields{c: f.sub("text_config")}
	t.modelType("blip_text_model")
	out.Text = BlipTextConfig{
		VocabSize:             t.sized("vocab_size", 30524, MaxVocab),
		HiddenSize:            t.sized("hidden_size", 768, MaxWidth),
		EncoderHiddenSize:     out.Vision.HiddenSize,
		IntermediateSize:      t.sized("intermediate_size", 3072, MaxWidth),
		ProjectionDim:         t.sized("projection_dim", 768, MaxWidth),
		NumHiddenLayers:       t.sized("num_hidden_layers", 12, MaxLayers),
		NumAttentionHeads:     t.sized("num_attention_heads", 8, MaxHeads),
		MaxPositionEmbeddings: t.sized("max_position_embeddings", 512, MaxPositions),
		HiddenAct:             t.str("hidden_act", "gelu"),
		LayerNormEps:          t.eps("layer_norm_eps", 1e-12),
		BosTokenID:            t.int("bos_token_id", 30522),
		EosTokenIDs:           t.ints("eos_token_id", 2),
		PadTokenID:            t.int("pad_token_id", 0),
		SepTokenID:            t.int("sep_token_id", 102),
		IsDecoder:             t.bool("is_decoder", true),
		UseCache:              t.bool("use_cache", true),
		TieWordEmbeddings:     t.bool("tie_word_embeddings", true),
		LabelSmoothing:        t.float("label_smoothing", 0),
	}
	t.heads(out.Text.HiddenSize, out.Text.NumAttentionHeads)
	t.tokenID("bos_token_id", out.Text.BosTokenID, out.Text.VocabSize, true)
	t.tokenID("pad_token_id", out.Text.PadTokenID, out.Text.VocabSize, true)
	t.tokenID("sep_token_id", out.Text.SepTokenID, out.Text.VocabSize, true)
	for i, id := range out.Text.EosTokenIDs {
		t.tokenID(fmt.Sprintf("eos_token_id[%d]", i), id, out.Text.VocabSize, false)
	}

	for _, err := range []error{f.err, v.err, t.err} {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
