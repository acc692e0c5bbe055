package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"unicode"

	"github.com/edged/edged/hf"
)

// tokenizerJSON is the part of the tokenizers library's tokenizer.json that CLIP and BERT
// tokenizers use. Components are kept raw and read by the loader that knows which kinds it
// supports; truncation and padding settings are ignored (Encode and EncodeTo decide).
type tokenizerJSON struct {
	AddedTokens   []hf.AddedToken `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         struct {
		Type                    string           `json:"type"`
		Vocab                   map[string]int32 `json:"vocab"`
		Merges                  json.RawMessage  `json:"merges"`
		UnkToken                *string          `json:"unk_token"`
		ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string          `json:"end_of_word_suffix"`
		MaxInputCharsPerWord    int              `json:"max_input_chars_per_word"`
		ByteFallback            bool             `json:"byte_fallback"`
		Dropout                 *float64         `json:"dropout"`
	} `json:"model"`
}

func readTokenizerJSON(path string) (*tokenizerJSON, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // names the path
	}
	return parseTokenizerJSON(data)
}

func parseTokenizerJSON(data []byte) (*tokenizerJSON, error) {
	var t tokenizerJSON
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	return &t, nil
}

// component is the "type" of a tokenizer.json component, with the raw object.
type component struct {
	Type string
	raw  json.RawMessage
}

func parseComponent(raw json.RawMessage) (component, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return component{}, nil
	}
	var c struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return component{}, err
	}
	return component{Type: c.Type, raw: raw}, nil
}

// parseNormalizer builds a normalizer from tokenizer.json's description. The kinds CLIP and
// BERT checkpoints use are supported (and the plain Unicode ones); anything else is an error
// rather than silently different ids.
func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	c, err := parseComponent(raw)
	if err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	switch c.Type {
	case "":
		return func(s string) string { return s }, nil
	case "Sequence":
		var seq struct {
			Normalizers []json.RawMessage `json:"normalizers"`
		}
		if err := json.Unmarshal(c.raw, &seq); err != nil {
			return nil, fmt.Errorf("normalizer Sequence: %w", err)
		}
		steps := make([]normalizer, len(seq.Normalizers))
		for i, r := range seq.Normalizers {
			if steps[i], err = parseNormalizer(r); err != nil {
				return nil, err
			}
		}
		return chain(steps...), nil
	case "NFC":
		return nfc, nil
	case "NFD":
		return nfd, nil
	case "NFKC":
		return nfkc, nil
	case "NFKD":
		return nfkd, nil
	case "Lowercase":
		return lowercase, nil
	case "StripAccents":
		return dropMarks, nil // pipelines put NFD before it
	case "Strip":
		var st struct {
			Left  bool `json:"strip_left"`
			Right bool `json:"strip_right"`
		}
		if err := json.Unmarshal(c.raw, &st); err != nil {
			return nil, fmt.Errorf("normalizer Strip: %w", err)
		}
		return func(s string) string {
			if st.Left {
				s = strings.TrimLeftFunc(s, unicode.IsSpace)
			}
			if st.Right {
				s = strings.TrimRightFunc(s, unicode.IsSpace)
			}
			return s
		}, nil
	case "Replace":
		var rep struct {
			Pattern struct {
				String *string `json:"String"`
				Regex  *string `json:"Regex"`
			} `json:"pattern"`
			Content string `json:"content"`
		}
		if err := json.Unmarshal(c.raw, &rep); err != nil {
			return nil, fmt.Errorf("normalizer Replace: %w", err)
		}
		switch {
		case rep.Pattern.String != nil && *rep.Pattern.String != "":
			from, to := *rep.Pattern.String, rep.Content
			return func(s string) string { return strings.ReplaceAll(s, from, to) }, nil
		case rep.Pattern.Regex != nil && *rep.Pattern.Regex == `\s+` && rep.Content == " ":
			return collapseSpaces, nil
		}
		return nil, fmt.Errorf("normalizer Replace with pattern %s is not supported (only a string, or \\s+ to one space)", compact(c.raw))
	case "BertNormalizer":
		var b struct {
			CleanText          bool  `json:"clean_text"`
			HandleChineseChars bool  `json:"handle_chinese_chars"`
			StripAccents       *bool `json:"strip_accents"`
			Lowercase          bool  `json:"lowercase"`
		}
		if err := json.Unmarshal(c.raw, &b); err != nil {
			return nil, fmt.Errorf("normalizer BertNormalizer: %w", err)
		}
		return bertNormalizer(b.CleanText, b.HandleChineseChars, b.Lowercase, b.StripAccents), nil
	}
	return nil, fmt.Errorf("normalizer %q is not supported", c.Type)
}

// template is what a post-processor puts around a single sequence: special token ids
// before and after it.
type template struct {
	prefix, suffix []int32
}

// parsePostProcessor reads the single-sequence template of RobertaProcessing,
// BertProcessing or TemplateProcessing.
func parsePostProcessor(raw json.RawMessage) (template, error) {
	c, err := parseComponent(raw)
	if err != nil {
		return template{}, fmt.Errorf("post_processor: %w", err)
	}
	switch c.Type {
	case "":
		return template{}, nil
	case "RobertaProcessing", "BertProcessing":
		var p struct {
			Cls [2]json.RawMessage `json:"cls"`
			Sep [2]json.RawMessage `json:"sep"`
		}
		if err := json.Unmarshal(c.raw, &p); err != nil {
			return template{}, fmt.Errorf("post_processor %s: %w", c.Type, err)
		}
		var cls, sep int32
		if err := json.Unmarshal(p.Cls[1], &cls); err != nil {
			return template{}, fmt.Errorf("post_processor %s: cls: %w", c.Type, err)
		}
		if err := json.Unmarshal(p.Sep[1], &sep); err != nil {
			return template{}, fmt.Errorf("post_processor %s: sep: %w", c.Type, err)
		}
		return template{prefix: []int32{cls}, suffix: []int32{sep}}, nil
	case "TemplateProcessing":
		var p struct {
			Single []struct {
				SpecialToken *struct {
					ID string `json:"id"`
				} `json:"SpecialToken"`
				Sequence *struct {
					ID string `json:"id"`
				} `json:"Sequence"`
			} `json:"single"`
			SpecialTokens map[string]struct {
				IDs []int32 `json:"ids"`
			} `json:"special_tokens"`
		}
		if err := json.Unmarshal(c.raw, &p); err != nil {
			return template{}, fmt.Errorf("post_processor TemplateProcessing: %w", err)
		}
		var t template
		seen := false
		for _, piece := range p.Single {
			switch {
			case piece.Sequence != nil:
				seen = true
			case piece.SpecialToken != nil:
				st, ok := p.SpecialTokens[piece.SpecialToken.ID]
				if !ok {
					return template{}, fmt.Errorf("post_processor TemplateProcessing: special token %q has no ids", piece.SpecialToken.ID)
				}
				if seen {
					t.suffix = append(t.suffix, st.IDs...)
				} else {
					t.prefix = append(t.prefix, st.IDs...)
				}
			}
		}
		if !seen {
			return template{}, fmt.Errorf("post_processor TemplateProcessing: the single template has no sequence")
		}
		return t, nil
	}
	return template{}, fmt.Errorf("post_processor %q is not supported", c.Type)
}

// compact shortens a raw component for an error message.
func compact(raw json.RawMessage) string {
	s := strings.Join(strings.Fields(string(raw)), " ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
