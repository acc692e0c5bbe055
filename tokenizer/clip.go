package tokenizer

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/edged/edged/hf"
)

// CLIP is CLIP's byte-level BPE tokenizer: CLIPTokenizerFast of transformers 4.x, which is
// CLIPTokenizer in 5.x (both run the tokenizers library). Where the old Python
// CLIPTokenizer differs, this follows the fast one: the slow one cleaned text with ftfy (or,
// without ftfy, BERT's basic tokenizer) where the fast one applies NFC. The two agree on
// every golden test string.
type CLIP struct {
	normalize       normalizer
	added           *addedTokens
	model           *bpe
	vocab           *vocabulary
	start, end, pad int32
	contextLength   int
}

// defaultCLIPContext is CLIP's context length when neither config.json nor
// tokenizer_config.json gives one: that of every released OpenAI CLIP.
const defaultCLIPContext = 77

// clipSplit are CLIP's pre-tokenizer regexes in tokenizer.json files (transformers 5, and
// 4.x without the special-token alternatives). clipWords implements them.
var clipSplit = []string{
	`<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`,
	`'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`,
}

// LoadCLIP loads the tokenizer of the CLIP checkpoint (or bundle) in dir from
// tokenizer.json, or else from vocab.json and merges.txt, with tokenizer_config.json when
// present. The context length is config.json's text_config.max_position_embeddings when
// dir has a config.json, else tokenizer_config.json's model_max_length, else 77.
func LoadCLIP(dir string) (*CLIP, error) {
	tc, err := hf.ReadTokenizerConfig(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var t *CLIP
	path := filepath.Join(dir, "tokenizer.json")
	if _, statErr := os.Stat(path); statErr == nil {
		t, err = loadCLIPJSON(path, tc)
	} else {
		path = filepath.Join(dir, "vocab.json")
		t, err = loadCLIPVocab(dir, tc)
	}
	if err != nil {
		return nil, fmt.Errorf("tokenizer: CLIP from %s: %w", path, err)
	}
	t.contextLength, err = clipContextLength(dir, tc)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: CLIP context length: %w", err)
	}
	if t.contextLength < 2 {
		return nil, fmt.Errorf("tokenizer: CLIP context length %d in %s leaves no room for the start and end tokens", t.contextLength, dir)
	}
	return t, nil
}

func clipContextLength(dir string, tc *hf.TokenizerConfig) (int, error) {
	cfg, err := hf.ReadConfig(filepath.Join(dir, "config.json"))
	switch {
	case err == nil:
		c, err := cfg.CLIP()
		if err != nil {
			return 0, err
		}
		return c.Text.MaxPositionEmbeddings, nil
	case !errors.Is(err, fs.ErrNotExist):
		return 0, err
	case tc != nil && tc.ModelMaxLength > 0:
		return tc.ModelMaxLength, nil
	}
	return defaultCLIPContext, nil
}

func loadCLIPJSON(path string, tc *hf.TokenizerConfig) (*CLIP, error) {
	tj, err := readTokenizerJSON(path)
	if err != nil {
		return nil, err
	}
	return clipFromJSON(tj, tc)
}

func clipFromJSON(tj *tokenizerJSON, tc *hf.TokenizerConfig) (*CLIP, error) {
	m := tj.Model
	switch {
	case m.Type != "BPE":
		return nil, fmt.Errorf("model type %q, want BPE", m.Type)
	case m.EndOfWordSuffix == nil || *m.EndOfWordSuffix == "":
		return nil, errors.New("BPE model without an end_of_word_suffix (CLIP's is \"</w>\")")
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "":
		return nil, fmt.Errorf("BPE continuing_subword_prefix %q is not supported", *m.ContinuingSubwordPrefix)
	case m.ByteFallback:
		return nil, errors.New("BPE byte_fallback is not supported")
	case m.Dropout != nil && *m.Dropout != 0:
		return nil, errors.New("BPE dropout is not supported")
	case m.UnkToken == nil:
		return nil, errors.New("BPE model without an unk_token")
	}
	merges, err := parseMerges(m.Merges)
	if err != nil {
		return nil, err
	}
	model, err := newBPE(m.Vocab, merges, *m.EndOfWordSuffix, *m.UnkToken)
	if err != nil {
		return nil, err
	}
	if err := checkCLIPPreTokenizer(tj.PreTokenizer); err != nil {
		return nil, err
	}
	if dec, err := parseComponent(tj.Decoder); err != nil || dec.Type != "ByteLevel" {
		return nil, fmt.Errorf("decoder %s is not supported (want ByteLevel)", compact(tj.Decoder))
	}
	normalize, err := parseNormalizer(tj.Normalizer)
	if err != nil {
		return nil, err
	}
	post, err := parsePostProcessor(tj.PostProcessor)
	if err != nil {
		return nil, err
	}
	if len(post.prefix) != 1 || len(post.suffix) != 1 {
		return nil, fmt.Errorf("post_processor %s does not put one start and one end token around the text", compact(tj.PostProcessor))
	}
	return newCLIP(normalize, model, tj.AddedTokens, post.prefix[0], post.suffix[0], tc)
}

// parseMerges reads tokenizer.json merges, written as "a b" strings or as ["a", "b"] pairs.
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	var pairs [][2]string
	if err := json.Unmarshal(raw, &pairs); err == nil {
		return pairs, nil
	}
	var lines []string
	if err := json.Unmarshal(raw, &lines); err != nil {
		return nil, fmt.Errorf("merges: want a list of \"a b\" strings or of pairs: %w", err)
	}
	pairs = make([][2]string, len(lines))
	for i, l := range lines {
		a, b, ok := strings.Cut(l, " ")
		if !ok || a == "" || b == "" || strings.Contains(b, " ") {
			return nil, fmt.Errorf("merge %d %q is not two symbols separated by a space", i+1, l)
		}
		pairs[i] = [2]string{a, b}
	}
	return pairs, nil
}

// checkCLIPPreTokenizer accepts CLIP's pre-tokenizer, the only one clipWords implements:
// Split on CLIP's regex keeping the matches, then ByteLevel without a prefix space.
func checkCLIPPreTokenizer(raw json.RawMessage) error {
	var seq struct {
		Type          string `json:"type"`
		PreTokenizers []struct {
			Type    string `json:"type"`
			Pattern struct {
				Regex string `json:"Regex"`
			} `json:"pattern"`
			Behavior       string `json:"behavior"`
			Invert         bool   `json:"invert"`
			AddPrefixSpace bool   `json:"add_prefix_space"`
		} `json:"pretokenizers"`
	}
	err := json.Unmarshal(raw, &seq)
	ok := err == nil && seq.Type == "Sequence" && len(seq.PreTokenizers) == 2
	if ok {
		split, bl := seq.PreTokenizers[0], seq.PreTokenizers[1]
		known := false
		for _, p := range clipSplit {
			known = known || split.Pattern.Regex == p
		}
		ok = split.Type == "Split" && known && split.Behavior == "Removed" && split.Invert &&
			bl.Type == "ByteLevel" && !bl.AddPrefixSpace
	}
	if !ok {
		return fmt.Errorf("pre_tokenizer %s is not CLIP's (Split on CLIP's regex, then ByteLevel)", compact(raw))
	}
	return nil
}

// loadCLIPVocab builds the tokenizer transformers builds from vocab.json and merges.txt:
// CLIP's normalizer and pre-tokenizer, and the special tokens of tokenizer_config.json (or
// CLIPTokenizer's defaults), which must be in the vocabulary.
func loadCLIPVocab(dir string, tc *hf.TokenizerConfig) (*CLIP, error) {
	data, err := os.ReadFile(filepath.Join(dir, "vocab.json"))
	if err != nil {
		return nil, fmt.Errorf("no tokenizer.json, and %w", err)
	}
	var vocab map[string]int32
	if err := json.Unmarshal(data, &vocab); err != nil {
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	merges, err := readMergesTxt(filepath.Join(dir, "merges.txt"))
	if err != nil {
		return nil, err
	}
	names := struct{ bos, eos, unk, pad string }{"<|startoftext|>", "<|endoftext|>", "<|endoftext|>", "<|endoftext|>"}
	if tc != nil {
		names.bos = cmpOr(tc.BosToken, names.bos)
		names.eos = cmpOr(tc.EosToken, names.eos)
		names.unk = cmpOr(tc.UnkToken, names.unk)
		names.pad = cmpOr(tc.PadToken, names.pad)
	}
	model, err := newBPE(vocab, merges, "</w>", names.unk)
	if err != nil {
		return nil, err
	}
	var added []hf.AddedToken
	for _, name := range []string{names.bos, names.eos, names.unk, names.pad} {
		id, ok := vocab[name]
		if !ok {
			return nil, fmt.Errorf("special token %q is not in the vocabulary", name)
		}
		added = append(added, hf.AddedToken{ID: int(id), Content: name, Special: true})
	}
	if tc != nil {
		added = append(added, tc.AddedTokens...)
	}
	return newCLIP(chain(nfc, collapseSpaces, lowercase), model, added, vocab[names.bos], vocab[names.eos], tc)
}

// readMergesTxt reads merges.txt: an optional "#version" line, then "a b" per line.
func readMergesTxt(path string) ([][2]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var pairs [][2]string
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimRight(sc.Text(), "\r")
		if l == "" || line == 1 && strings.HasPrefix(l, "#version") {
			continue
		}
		a, b, ok := strings.Cut(l, " ")
		if !ok || a == "" || b == "" || strings.Contains(b, " ") {
			return nil, fmt.Errorf("%s:%d: %q is not two symbols separated by a space", path, line, l)
		}
		pairs = append(pairs, [2]string{a, b})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return pairs, nil
}

func newCLIP(normalize normalizer, model *bpe, added []hf.AddedToken, start, end int32, tc *hf.TokenizerConfig) (*CLIP, error) {
	addedTokens, err := newAddedTokens(added, normalize)
	if err != nil {
		return nil, err
	}
	vocab, err := newVocabulary(model.vocab, added)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(vocab.checkSpecial("start", start), vocab.checkSpecial("end", end)); err != nil {
		return nil, err
	}
	t := &CLIP{normalize: normalize, added: addedTokens, model: model, vocab: vocab, start: start, end: end, pad: end}
	// CLIP pads with its end token unless the config names another pad token.
	if tc != nil && tc.PadToken != "" {
		id, ok := vocab.ids[tc.PadToken]
		if !ok {
			return nil, fmt.Errorf("pad token %q is not in the vocabulary", tc.PadToken)
		}
		t.pad = id
	}
	return t, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ContextLength is the length Encode pads and truncates to.
func (t *CLIP) ContextLength() int { return t.contextLength }

// StartID is <|startoftext|>'s id, the first of every encoding.
func (t *CLIP) StartID() int32 { return t.start }

// EndID is <|endoftext|>'s id, which ends every encoding (and, having the highest id in
// OpenAI's vocabulary, marks where CLIP's text tower pools).
func (t *CLIP) EndID() int32 { return t.end }

// PadID is the id padding is made of (the end token for CLIP).
func (t *CLIP) PadID() int32 { return t.pad }

// VocabSize is one more than the largest token id.
func (t *CLIP) VocabSize() int { return t.vocab.size() }

// Encode tokenizes text for the text tower: <|startoftext|>, the text's tokens, and
// <|endoftext|>, padded with PadID to ContextLength, with the attention mask (1 for real
// tokens, 0 for padding). Text too long for the context is truncated before the end token,
// as transformers does with truncation=True.
func (t *CLIP) Encode(text string) (ids, mask []int32) {
	ids, mask, _ = t.EncodeTo(text, t.contextLength) // LoadCLIP guarantees a length ≥ 2
	return ids, mask
}

// EncodeTo is Encode to another length, which must leave room for the start and end tokens.
func (t *CLIP) EncodeTo(text string, length int) (ids, mask []int32, err error) {
	if length < 2 {
		return nil, nil, fmt.Errorf("tokenizer: CLIP length %d leaves no room for the start and end tokens", length)
	}
	body := t.encode(text)
	if len(body) > length-2 {
		body = body[:length-2]
	}
	ids = make([]int32, length)
	mask = make([]int32, length)
	ids[0] = t.start
	copy(ids[1:], body)
	ids[len(body)+1] = t.end
	for i := range ids {
		if i < len(body)+2 {
			mask[i] = 1
		} else {
			ids[i] = t.pad
		}
	}
	return ids, mask, nil
}

// encode is the text's token ids, without start, end or padding.
func (t *CLIP) encode(text string) []int32 {
	var ids []int32
	for _, seg := range t.added.segments(strings.ToValidUTF8(text, "\uFFFD"), t.normalize) {
		if seg.id >= 0 {
			ids = append(ids, seg.id)
			continue
		}
		for _, w := range clipWords(seg.text) {
			ids = t.model.encode(byteLevel(w), ids)
		}
	}
	return ids
}

// Tokens are the text's tokens as strings, without start and end (transformers'
// tokenize): byte-level characters, "</w>" ending each word.
func (t *CLIP) Tokens(text string) []string {
	ids := t.encode(text)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i], _ = t.vocab.token(id)
	}
	return out
}

// Decode turns ids back into text as transformers' decode(ids, skip_special_tokens=True)
// does: special tokens and ids outside the vocabulary are skipped, bytes are reassembled,
// every "</w>" becomes a space and the ends are trimmed.
func (t *CLIP) Decode(ids []int32) string {
	var tokens []string
	for _, id := range ids {
		if t.added.special(id) {
			continue
		}
		if tok, ok := t.vocab.token(id); ok {
			tokens = append(tokens, tok)
		}
	}
	text := byteLevelDecode(tokens)
	return strings.TrimSpace(strings.ReplaceAll(text, t.model.endOfWord, " "))
}
