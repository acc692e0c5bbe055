package hf

import "fmt"

// GenerationConfig is generation_config.json: how transformers' generate decodes by
// default, with GenerationConfig's defaults for missing keys. An absent id is -1.
type GenerationConfig struct {
	BosTokenID          int     // bos_token_id
	EosTokenIDs         []int   // eos_token_id: one id or a list in the file
	PadTokenID          int     // pad_token_id
	DecoderStartTokenID int     // decoder_start_token_id
	MaxLength           int     // max_length (20): counts the prompt
	MaxNewTokens        int     // max_new_tokens (0: not set, MaxLength governs)
	MinLength           int     // min_length (0): counts the prompt
	MinNewTokens        int     // min_new_tokens (0: not set)
	NumBeams            int     // num_beams (1)
	LengthPenalty       float64 // length_penalty (1)
	RepetitionPenalty   float64 // repetition_penalty (1)
	NoRepeatNgramSize   int     // no_repeat_ngram_size (0)
	DoSample            bool    // do_sample (false)
	// EarlyStopping is early_stopping for beam search: "false" (the default), "true" or
	// "never", as the file's true, false or "never".
	EarlyStopping string
	UseCache      bool // use_cache (true)
	// FromModelConfig is _from_model_config: the ids were copied from config.json, as
	// transformers does when a checkpoint has no generation_config.json.
	FromModelConfig bool
}

// ParseGenerationConfig reads a parsed generation_config.json.
func ParseGenerationConfig(c *Config) (*GenerationConfig, error) {
	f := &fields{c: c}
	g := &GenerationConfig{
		BosTokenID:          f.int("bos_token_id", -1),
		EosTokenIDs:         f.ints("eos_token_id"),
		PadTokenID:          f.int("pad_token_id", -1),
		DecoderStartTokenID: f.int("decoder_start_token_id", -1),
		MaxLength:           f.nonNegative("max_length", 20, MaxPositions),
		MaxNewTokens:        f.nonNegative("max_new_tokens", 0, MaxPositions),
		MinLength:           f.nonNegative("min_length", 0, MaxPositions),
		MinNewTokens:        f.nonNegative("min_new_tokens", 0, MaxPositions),
		NumBeams:            f.sized("num_beams", 1, MaxBeams),
		LengthPenalty:       f.float("length_penalty", 1),
		RepetitionPenalty:   f.float("repetition_penalty", 1),
		NoRepeatNgramSize:   f.nonNegative("no_repeat_ngram_size", 0, MaxPositions),
		DoSample:            f.bool("do_sample", false),
		UseCache:            f.bool("use_cache", true),
		FromModelConfig:     f.bool("_from_model_config", false),
	}
	if f.err != nil {
		return nil, f.err
	}
	switch v := c.Raw["early_stopping"].(type) {
	case nil:
		g.EarlyStopping = "false"
	case bool:
		g.EarlyStopping = fmt.Sprint(v)
	case string:
		if v != "never" {
			return nil, c.errorf("early_stopping", "want true, false or \"never\", got %q", v)
		}
		g.EarlyStopping = v
	default:
		return nil, c.errorf("early_stopping", "want true, false or \"never\", got %s", describe(v))
	}
	return g, nil
}

// GenerationConfigFromModel is the generation config transformers derives from config.json
// when a checkpoint has none: the defaults, with bos, eos, pad and decoder-start ids taken
// from the top level or else from text_config (where composite models such as BLIP keep
// them).
func GenerationConfigFromModel(model *Config) (*GenerationConfig, error) {
	g, err := ParseGenerationConfig(&Config{Path: model.Path, Raw: map[string]any{}})
	if err != nil {
		return nil, err
	}
	g.FromModelConfig = true
	text, err := model.Sub("text_config")
	if err != nil {
		return nil, err
	}
	id := func(key string) (int, error) {
		if model.Has(key) {
			return model.Int(key, -1)
		}
		return text.Int(key, -1)
	}
	if g.BosTokenID, err = id("bos_token_id"); err != nil {
		return nil, err
	}
	if g.PadTokenID, err = id("pad_token_id"); err != nil {
		return nil, err
	}
	if g.DecoderStartTokenID, err = id("decoder_start_token_id"); err != nil {
		return nil, err
	}
	src := model
	if !model.Has("eos_token_id") {
		src = text
	}
	if g.EosTokenIDs, err = src.Ints("eos_token_id"); err != nil {
		return nil, err
	}
	return g, nil
}
