package hf

// CLIPConfig is a CLIPModel's config.json with the defaults transformers' CLIPConfig applies
// to missing keys (those of openai/clip-vit-base-patch32).
//
// LogitScaleInitValue only initialises training: a trained checkpoint's scale is the
// logit_scale tensor in its weights.
type CLIPConfig struct {
	Text                CLIPTextConfig
	Vision              CLIPVisionConfig
	ProjectionDim       int     // projection_dim (512): width of the shared embedding space
	LogitScaleInitValue float64 // logit_scale_init_value (2.6592)
}

// CLIPTextConfig is text_config of a CLIPConfig.
type CLIPTextConfig struct {
	VocabSize             int     // vocab_size (49408)
	HiddenSize            int     // hidden_size (512)
	IntermediateSize      int     // intermediate_size (2048)
	ProjectionDim         int     // projection_dim (512); CLIPModel uses the top-level one
	NumHiddenLayers       int     // num_hidden_layers (12)
	NumAttentionHeads     int     // num_attention_heads (8)
	MaxPositionEmbeddings int     // max_position_embeddings (77): the context length
	HiddenAct             string  // hidden_act ("quick_gelu")
	LayerNormEps          float64 // layer_norm_eps (1e-5)
	PadTokenID            int     // pad_token_id (1)
	BosTokenID            int     // bos_token_id (49406)
	// EosTokenID (49407) chooses the pooled position: when it is 2, as in the released
	// OpenAI checkpoints' configs, transformers pools at the argmax of the input ids (the
	// end token has the highest id); otherwise at the first EosTokenID.
	EosTokenID int
}

// CLIPVisionConfig is vision_config of a CLIPConfig.
type CLIPVisionConfig struct {
	HiddenSize        int     // hidden_size (768)
	IntermediateSize  int     // intermediate_size (3072)
	ProjectionDim     int     // projection_dim (512); CLIPModel uses the top-level one
	NumHiddenLayers   int     // num_hidden_layers (12)
	NumAttentionHeads int     // num_attention_heads (12)
	NumChannels       int     // num_channels (3)
	ImageSize         int     // image_size (224)
	PatchSize         int     // patch_size (32)
	HiddenAct         string  // hidden_act ("quick_gelu")
	LayerNormEps      float64 // layer_norm_eps (1e-5)
}

// CLIP reads the config as a CLIPConfig.
func (c *Config) CLIP() (*CLIPConfig, error) {
	f := &fields{c: c}
	f.modelType("clip")
	out := &CLIPConfig{
		ProjectionDim:       f.sized("projection_dim", 512, MaxWidth),
		LogitScaleInitValue: f.float("logit_scale_init_value", 2.6592),
	}

	t := &fields{c: f.sub("text_config")}
	t.modelType("clip_text_model")
	out.Text = CLIPTextConfig{
		VocabSize:             t.sized("vocab_size", 49408, MaxVocab),
		HiddenSize:            t.sized("hidden_size", 512, MaxWidth),
		IntermediateSize:      t.sized("intermediate_size", 2048, MaxWidth),
		ProjectionDim:         t.sized("projection_dim", 512, MaxWidth),
		NumHiddenLayers:       t.sized("num_hidden_layers", 12, MaxLayers),
		NumAttentionHeads:     t.sized("num_attention_heads", 8, MaxHeads),
		MaxPositionEmbeddings: t.sized("max_position_embeddings", 77, MaxPositions),
		HiddenAct:             t.str("hidden_act", "quick_gelu"),
		LayerNormEps:          t.eps("layer_norm_eps", 1e-5),
		PadTokenID:            t.int("pad_token_id", 1),
		BosTokenID:            t.int("bos_token_id", 49406),
		EosTokenID:            t.int("eos_token_id", 49407),
	}
	t.heads(out.Text.HiddenSize, out.Text.NumAttentionHeads)
	t.tokenID("pad_token_id", out.Text.PadTokenID, out.Text.VocabSize, true)
	t.tokenID("bos_token_id", out.Text.BosTokenID, out.Text.VocabSize, true)
	t.tokenID("eos_token_id", out.Text.EosTokenID, out.Text.VocabSize, false)

	v := &fields{c: f.sub("vision_config")}
	v.modelType("clip_vision_model")
	out.Vision = CLIPVisionConfig{
		HiddenSize:        v.sized("hidden_size", 768, MaxWidth),
		IntermediateSize:  v.sized("intermediate_size", 3072, MaxWidth),
		ProjectionDim:     v.sized("projection_dim", 512, MaxWidth),
		NumHiddenLayers:   v.sized("num_hidden_layers", 12, MaxLayers),
		NumAttentionHeads: v.sized("num_attention_heads", 12, MaxHeads),
		NumChannels:       v.sized("num_channels", 3, MaxChannels),
		ImageSize:         v.square("image_size", 224, MaxImageSide),
		PatchSize:         v.square("patch_size", 32, MaxImageSide),
		HiddenAct:         v.str("hidden_act", "quick_gelu"),
		LayerNormEps:      v.eps("layer_norm_eps", 1e-5),
	}
	v.heads(out.Vision.HiddenSize, out.Vision.NumAttentionHeads)

	for _, err := range []error{f.err, t.err, v.err} {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
