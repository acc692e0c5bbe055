package tokenizer

import (
	"slices"
	"testing"

	"github.com/edged/edged/hf"
)

// tokenizer.json files never panic the loaders, and a tokenizer they accept encodes only ids
// of its own vocabulary and decodes any id without panicking.
func FuzzTokenizerJSON(f *testing.F) {
	for _, seed := range append([]string{clipSeed, bertSeed},
		`{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "[PAD]": 2147483647}, "unk_token": "[UNK]"}, "pre_tokenizer": {"type": "BertPreTokenizer"}}`,
		`{"model": {"type": "BPE", "vocab": {"a": -1}, "merges": [], "unk_token": "a", "end_of_word_suffix": "</w>"}}`,
		`{"added_tokens": [{"id": 1073741824, "content": "x"}], "model": {"type": "BPE"}}`,
	) {
		f.Add([]byte(seed))
	}
	texts := []string{"a photo of a red circle", "what colour is the [SEP] square?<|endoftext|>", "\xff\xfe  Ünïcode 漢字 !!"}
	f.Fuzz(fuzzTokenizer(texts))
}

// Small seeds of the two kinds (the shapes files are tens of kilobytes: minimising an input
// that size takes the fuzzer minutes).
const (
	clipSeed = `{"added_tokens": [{"id": 7, "content": "<|startoftext|>", "special": true}, {"id": 8, "content": "<|endoftext|>", "special": true}],
		  "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}, {"type": "Lowercase"}]},
		  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+"}, "behavior": "Removed", "invert": true},
		    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}]},
		  "post_processor": {"type": "RobertaProcessing", "sep": ["<|endoftext|>", 8], "cls": ["<|startoftext|>", 7]},
		  "decoder": {"type": "ByteLevel"},
		  "model": {"type": "BPE", "unk_token": "<|endoftext|>", "end_of_word_suffix": "</w>",
		    "vocab": {"a": 0, "b": 1, "c": 2, "a</w>": 3, "b</w>": 4, "c</w>": 5, "ab</w>": 6, "<|startoftext|>": 7, "<|endoftext|>": 8},
		    "merges": [["a", "b</w>"]]}}`
	bertSeed = `{"added_tokens": [{"id": 0, "content": "[PAD]", "special": true}, {"id": 1, "content": "[UNK]", "special": true}, {"id": 9, "content": "[DEC]", "special": true}],
		  "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "lowercase": true},
		  "pre_tokenizer": {"type": "BertPreTokenizer"},
		  "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[CLS]"}}, {"Sequence": {"id": "A"}}, {"SpecialToken": {"id": "[SEP]"}}],
		    "special_tokens": {"[CLS]": {"ids": [2]}, "[SEP]": {"ids": [3]}}},
		  "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
		  "model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "a": 4, "##b": 5, "what": 6, "?": 7, "中": 8}}}`
)

func fuzzTokenizer(texts []string) func(*testing.T, []byte) {
	return func(t *testing.T, data []byte) {
		tj, err := parseTokenizerJSON(data)
		if err != nil {
			return
		}
		if c, err := clipFromJSON(tj, nil); err == nil {
			c.contextLength = 16
			for _, text := range texts {
				ids, _ := c.Encode(text)
				checkIDsIn(t, ids, c.VocabSize())
				c.Decode(ids)
				c.Tokens(text)
			}
			decodeEvery(c.Decode, c.VocabSize())
		}
		tc := &hf.TokenizerConfig{Config: &hf.Config{Path: "tokenizer_config.json", Raw: map[string]any{}}}
		if b, err := bertFromJSON(tj, tc); err == nil {
			for _, text := range texts {
				ids := b.Encode(text)
				checkIDsIn(t, ids, b.VocabSize())
				b.Decode(ids)
				if ids, mask, err := b.EncodeTo(text, 8); err == nil && (len(ids) != 8 || len(mask) != 8) {
					t.Fatalf("EncodeTo(%q, 8): %d ids, %d mask values", text, len(ids), len(mask))
				}
			}
			decodeEvery(b.Decode, b.VocabSize())
		}
	}
}

// The seeds are tokenizers that work: the fuzzer starts from the code paths of real ones.
func TestFuzzSeedsLoad(t *testing.T) {
	tj, err := parseTokenizerJSON([]byte(clipSeed))
	if err != nil {
		t.Fatal(err)
	}
	c, err := clipFromJSON(tj, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.contextLength = 4
	if ids, _ := c.Encode("AB"); !slices.Equal(ids, []int32{7, 6, 8, 8}) {
		t.Errorf("CLIP seed: AB is %v, want [7 6 8 8]", ids)
	}
	if tj, err = parseTokenizerJSON([]byte(bertSeed)); err != nil {
		t.Fatal(err)
	}
	b, err := bertFromJSON(tj, &hf.TokenizerConfig{Config: &hf.Config{Raw: map[string]any{}}})
	if err != nil {
		t.Fatal(err)
	}
	if ids := b.Encode("What ab?"); !slices.Equal(ids, []int32{2, 6, 4, 5, 7, 3}) {
		t.Errorf("BERT seed: %v, want [2 6 4 5 7 3]", ids)
	}
}

func checkIDsIn(t *testing.T, ids []int32, vocab int) {
	t.Helper()
	if vocab > hf.MaxVocab {
		t.Fatalf("a vocabulary of %d ids was accepted", vocab)
	}
	for _, id := range ids {
		if id < 0 || int(id) >= vocab {
			t.Fatalf("encoded id %d outside the vocabulary of %d", id, vocab)
		}
	}
}

// decodeEvery decodes each id of the vocabulary and a few outside it, at most about a thousand.
func decodeEvery(decode func([]int32) string, vocab int) {
	for id := -2; id < min(vocab, 1024)+2; id++ {
		decode([]int32{int32(id)})
	}
}
