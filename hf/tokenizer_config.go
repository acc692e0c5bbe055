package hf

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
)

// TokenizerConfig is a checkpoint's tokenizer_config.json, with special_tokens_map.json
// (where older checkpoints keep their special tokens) filling in what it leaves out. Package
// tokenizer builds tokenizers from it; keys without a field here are in Config.
type TokenizerConfig struct {
	Config         *Config // tokenizer_config.json itself
	TokenizerClass string  // tokenizer_class, e.g. "CLIPTokenizer", "BertTokenizer"
	// The named special tokens ("" when not set). A token may be written as a string or as
	// an AddedToken object; only its content is kept here.
	BosToken, EosToken, UnkToken, SepToken, PadToken, ClsToken, MaskToken string
	// ExtraSpecialTokens are extra_special_tokens (transformers 5) or
	// additional_special_tokens (4.x), e.g. BLIP's "[ENC]".
	ExtraSpecialTokens []string
	// AddedTokens is added_tokens_decoder, ordered by id.
	AddedTokens []AddedToken
	// ModelMaxLength is model_max_length, or 0 when it is absent or transformers'
	// "no limit" placeholder (1e30).
	ModelMaxLength int
	// CleanUpTokenizationSpaces is clean_up_tokenization_spaces: whether decode removes
	// spaces before punctuation and contractions. transformers 5 defaults it to false.
	CleanUpTokenizationSpaces bool
}

// AddedToken is a token added to a vocabulary, in the form tokenizer.json's added_tokens
// and tokenizer_config.json's added_tokens_decoder write it.
type AddedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// noLimit is where model_max_length stops being a real limit: transformers writes
// int(1e30) when a tokenizer has none.
const noLimit = 1e18

// ReadTokenizerConfig reads dir/tokenizer_config.json and dir/special_tokens_map.json (if
// present). A missing tokenizer_config.json is an error wrapping fs.ErrNotExist.
func ReadTokenizerConfig(dir string) (*TokenizerConfig, error) {
	c, err := ReadConfig(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil {
		return nil, err
	}
	tc, err := ParseTokenizerConfig(c)
	if err != nil {
		return nil, err
	}
	sm, err := ReadConfig(filepath.Join(dir, "special_tokens_map.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return tc, nil
	}
	if err != nil {
		return nil, err
	}
	return tc, tc.fillSpecials(sm, false)
}

// ParseTokenizerConfig reads a parsed tokenizer_config.json.
func ParseTokenizerConfig(c *Config) (*TokenizerConfig, error) {
	tc := &TokenizerConfig{Config: c}
	f := &fields{c: c}
	tc.TokenizerClass = f.str("tokenizer_class", "")
	tc.CleanUpTokenizationSpaces = f.bool("clean_up_tokenization_spaces", false)
	maxLen := f.float("model_max_length", 0)
	if f.err != nil {
		return nil, f.err
	}
	if maxLen > 0 && maxLen < noLimit {
		if maxLen > MaxPositions {
			return nil, c.errorf("model_max_length", "%v is beyond edged's limit of %d tokens", maxLen, MaxPositions)
		}
		tc.ModelMaxLength = int(maxLen)
	}
	if err := tc.fillSpecials(c, true); err != nil {
		return nil, err
	}
	added, err := c.Sub("added_tokens_decoder")
	if err != nil {
		return nil, err
	}
	for key := range added.Raw {
		id, err := strconv.Atoi(key)
		if err != nil || id < 0 || id >= MaxVocab {
			return nil, added.errorf(key, "want a token id from 0 to %d as the key", MaxVocab-1)
		}
		entry, err := added.Sub(key)
		if err != nil {
			return nil, err
		}
		e := &fields{c: entry}
		tok := AddedToken{
			ID:         id,
			Content:    e.str("content", ""),
			SingleWord: e.bool("single_word", false),
			LStrip:     e.bool("lstrip", false),
			RStrip:     e.bool("rstrip", false),
			Normalized: e.bool("normalized", true),
			Special:    e.bool("special", false),
		}
		if e.err != nil {
			return nil, e.err
		}
		if tok.Content == "" {
			return nil, entry.errorf("content", "missing or empty")
		}
		tc.AddedTokens = append(tc.AddedTokens, tok)
	}
	sort.Slice(tc.AddedTokens, func(i, j int) bool { return tc.AddedTokens[i].ID < tc.AddedTokens[j].ID })
	return tc, nil
}

// fillSpecials sets the named and extra special tokens from c; with override false only
// those still unset.
func (tc *TokenizerConfig) fillSpecials(c *Config, override bool) error {
	named := []struct {
		key string
		dst *string
	}{
		{"bos_token", &tc.BosToken}, {"eos_token", &tc.EosToken}, {"unk_token", &tc.UnkToken},
		{"sep_token", &tc.SepToken}, {"pad_token", &tc.PadToken}, {"cls_token", &tc.ClsToken},
		{"mask_token", &tc.MaskToken},
	}
	for _, n := range named {
		tok, err := tokenContent(c, n.key, c.Raw[n.key])
		if err != nil {
			return err
		}
		if tok != "" && (override || *n.dst == "") {
			*n.dst = tok
		}
	}
	if len(tc.ExtraSpecialTokens) > 0 && !override {
		return nil
	}
	for _, key := range []string{"extra_special_tokens", "additional_special_tokens"} {
		var extra []string
		switch v := c.Raw[key].(type) {
		case nil:
			continue
		case []any:
			for i, item := range v {
				tok, err := tokenContent(c, fmt.Sprintf("%s[%d]", key, i), item)
				if err != nil {
					return err
				}
				extra = append(extra, tok)
			}
		case map[string]any:
			// transformers 4.5x wrote extra_special_tokens as {"name": token}.
			names := make([]string, 0, len(v))
			for name := range v {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				tok, err := tokenContent(c, key+"."+name, v[name])
				if err != nil {
					return err
				}
				extra = append(extra, tok)
			}
		default:
			return c.errorf(key, "want a list of tokens, got %s", describe(v))
		}
		if len(extra) > 0 {
			tc.ExtraSpecialTokens = extra
			break
		}
	}
	return nil
}

// tokenContent is a special token written as a string or as an AddedToken object.
func tokenContent(c *Config, key string, v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case map[string]any:
		if s, ok := v["content"].(string); ok {
			return s, nil
		}
	}
	return "", c.errorf(key, "want a token (a string or an object with \"content\"), got %s", describe(v))
}
