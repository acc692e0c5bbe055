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

// BERT is the WordPiece tokenizer of BERT-style text models (BertTokenizer), as BLIP uses
// it: questions and prompts are encoded as [CLS] … [SEP], and generated ids are decoded
// back into text.
type BERT struct {
	normalize normalizer
	added     *addedTokens
	model     *wordPiece
	vocab     *vocabulary
	post      template
	// Decoding: the WordPiece decoder's own per-token cleanup (tokenizer.json's "cleanup")
	// and transformers' clean_up_tokenization_spaces over the whole text.
	decodeCleanup, cleanUpSpaces bool
	cls, sep, pad, unk           int32
	bos                          int32 // -1 when the config names no bos token
}

// LoadBERT loads the tokenizer in dir from tokenizer.json, or else from vocab.txt, with
// tokenizer_config.json when present (its bos token, such as BLIP's [DEC], and
// clean_up_tokenization_spaces). With tokenizer.json, its normalizer decides lower-casing
// and accents; with vocab.txt, tokenizer_config.json's do_lower_case (default true),
// strip_accents and tokenize_chinese_chars do, and special tokens not in the vocabulary,
// such as [DEC] and [ENC], get the next ids in the order transformers gives them: bos, eos,
// unk, sep, pad, cls, mask, then the extra special tokens.
func LoadBERT(dir string) (*BERT, error) {
	tc, err := hf.ReadTokenizerConfig(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if tc == nil {
		tc = &hf.TokenizerConfig{Config: &hf.Config{Path: filepath.Join(dir, "tokenizer_config.json"), Raw: map[string]any{}}}
	}
	var t *BERT
	path := filepath.Join(dir, "tokenizer.json")
	if _, statErr := os.Stat(path); statErr == nil {
		t, err = loadBERTJSON(path, tc)
	} else {
		path = filepath.Join(dir, "vocab.txt")
		t, err = loadBERTVocab(path, tc)
	}
	if err != nil {
		return nil, fmt.Errorf("tokenizer: BERT from %s: %w", path, err)
	}
	return t, nil
}

func loadBERTJSON(path string, tc *hf.TokenizerConfig) (*BERT, error) {
	tj, err := readTokenizerJSON(path)
	if err != nil {
		return nil, err
	}
	return bertFromJSON(tj, tc)
}

func bertFromJSON(tj *tokenizerJSON, tc *hf.TokenizerConfig) (*BERT, error) {
	m := tj.Model
	if m.Type != "WordPiece" {
		return nil, fmt.Errorf("model type %q, want WordPiece", m.Type)
	}
	if m.UnkToken == nil {
		return nil, errors.New("WordPiece model without an unk_token")
	}
	prefix := "##"
	if m.ContinuingSubwordPrefix != nil {
		prefix = *m.ContinuingSubwordPrefix
	}
	maxChars := m.MaxInputCharsPerWord
	if maxChars == 0 {
		maxChars = 100
	}
	if pre, err := parseComponent(tj.PreTokenizer); err != nil || pre.Type != "BertPreTokenizer" {
		return nil, fmt.Errorf("pre_tokenizer %s is not supported (want BertPreTokenizer)", compact(tj.PreTokenizer))
	}
	normalize, err := parseNormalizer(tj.Normalizer)
	if err != nil {
		return nil, err
	}
	post, err := parsePostProcessor(tj.PostProcessor)
	if err != nil {
		return nil, err
	}
	var dec struct {
		Type    string `json:"type"`
		Prefix  string `json:"prefix"`
		Cleanup bool   `json:"cleanup"`
	}
	c, err := parseComponent(tj.Decoder)
	if err == nil && c.Type == "WordPiece" {
		err = json.Unmarshal(c.raw, &dec)
	}
	if err != nil || c.Type != "WordPiece" || dec.Prefix != prefix {
		return nil, fmt.Errorf("decoder %s is not supported (want WordPiece with prefix %q)", compact(tj.Decoder), prefix)
	}
	return newBERT(normalize, m.Vocab, tj.AddedTokens, *m.UnkToken, prefix, maxChars, post, dec.Cleanup, tc)
}

// loadBERTVocab builds the tokenizer transformers builds from vocab.txt: BertNormalizer
// with tokenizer_config.json's options, BertPreTokenizer, WordPiece with "##" and 100
// characters per word, [CLS] … [SEP], and a WordPiece decoder with cleanup.
func loadBERTVocab(path string, tc *hf.TokenizerConfig) (*BERT, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("no tokenizer.json, and %w", err)
	}
	defer f.Close()
	vocab := map[string]int32{}
	sc := bufio.NewScanner(f)
	for id := int32(0); sc.Scan(); id++ {
		if id >= hf.MaxVocab {
			return nil, fmt.Errorf("more than %d tokens", hf.MaxVocab)
		}
		// Every line is a token, even a repeated one: a later duplicate takes the name.
		vocab[strings.TrimRight(sc.Text(), "\r")] = id
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(vocab) == 0 {
		return nil, errors.New("empty vocabulary")
	}

	cfg := tc.Config
	// Missing do_lower_case means an uncased model, as in BERT's original tokenizer and
	// transformers 4 (a cased checkpoint's config says false).
	lower, err := cfg.Bool("do_lower_case", true)
	if err != nil {
		return nil, err
	}
	chinese, err := cfg.Bool("tokenize_chinese_chars", true)
	if err != nil {
		return nil, err
	}
	var strip *bool
	if cfg.Has("strip_accents") {
		s, err := cfg.Bool("strip_accents", false)
		if err != nil {
			return nil, err
		}
		strip = &s
	}

	names := []string{tc.BosToken, tc.EosToken, cmpOr(tc.UnkToken, "[UNK]"), cmpOr(tc.SepToken, "[SEP]"),
		cmpOr(tc.PadToken, "[PAD]"), cmpOr(tc.ClsToken, "[CLS]"), cmpOr(tc.MaskToken, "[MASK]")}
	names = append(names, tc.ExtraSpecialTokens...)
	added := append([]hf.AddedToken(nil), tc.AddedTokens...)
	taken := map[string]bool{}
	for _, t := range added {
		taken[t.Content] = true
	}
	next := int32(len(vocab))
	for _, t := range added {
		next = max(next, int32(t.ID)+1)
	}
	for _, name := range names {
		if name == "" || taken[name] {
			continue
		}
		taken[name] = true
		id, ok := vocab[name]
		if !ok {
			id = next
			next++
		}
		added = append(added, hf.AddedToken{ID: int(id), Content: name, Special: true})
	}
	unk := cmpOr(tc.UnkToken, "[UNK]")
	post := template{}
	for _, n := range []struct {
		name string
		dst  *[]int32
	}{{cmpOr(tc.ClsToken, "[CLS]"), &post.prefix}, {cmpOr(tc.SepToken, "[SEP]"), &post.suffix}} {
		id, ok := vocab[n.name]
		if !ok {
			return nil, fmt.Errorf("%q is not in the vocabulary", n.name)
		}
		*n.dst = []int32{id}
	}
	return newBERT(bertNormalizer(true, chinese, lower, strip), vocab, added, unk, "##", 100, post, true, tc)
}

func newBERT(normalize normalizer, modelVocab map[string]int32, added []hf.AddedToken, unk, prefix string, maxChars int,
	post template, decodeCleanup bool, tc *hf.TokenizerConfig) (*BERT, error) {
	vocab, err := newVocabulary(modelVocab, added)
	if err != nil {
		return nil, err
	}
	unkID, ok := modelVocab[unk]
	if !ok {
		return nil, fmt.Errorf("unknown token %q is not in the vocabulary", unk)
	}
	addedTokens, err := newAddedTokens(added, normalize)
	if err != nil {
		return nil, err
	}
	if len(post.prefix) != 1 || len(post.suffix) != 1 {
		return nil, errors.New("post-processor does not put one token before and one after the text ([CLS] … [SEP])")
	}
	if err := errors.Join(vocab.checkSpecial("[CLS]", post.prefix[0]), vocab.checkSpecial("[SEP]", post.suffix[0])); err != nil {
		return nil, err
	}
	t := &BERT{
		normalize:     normalize,
		added:         addedTokens,
		model:         &wordPiece{vocab: modelVocab, prefix: prefix, unk: unkID, maxChars: maxChars},
		vocab:         vocab,
		post:          post,
		decodeCleanup: decodeCleanup,
		cleanUpSpaces: tc.CleanUpTokenizationSpaces,
		cls:           post.prefix[0],
		sep:           post.suffix[0],
		unk:           unkID,
		bos:           -1,
	}
	padName := cmpOr(tc.PadToken, "[PAD]")
	if t.pad, ok = vocab.ids[padName]; !ok {
		return nil, fmt.Errorf("pad token %q is not in the vocabulary", padName)
	}
	if tc.BosToken != "" {
		if t.bos, ok = vocab.ids[tc.BosToken]; !ok {
			return nil, fmt.Errorf("bos token %q is not in the vocabulary or added tokens", tc.BosToken)
		}
	}
	return t, nil
}

// ClsID is [CLS]'s id, the first of every encoding.
func (t *BERT) ClsID() int32 { return t.cls }

// SepID is [SEP]'s id, the last of every encoding (and where BLIP's decoding stops).
func (t *BERT) SepID() int32 { return t.sep }

// PadID is [PAD]'s id.
func (t *BERT) PadID() int32 { return t.pad }

// UnkID is [UNK]'s id, for text the vocabulary cannot cover.
func (t *BERT) UnkID() int32 { return t.unk }

// BosID is the id of tokenizer_config.json's bos_token (BLIP's [DEC], where decoding
// starts), and false when the config names none.
func (t *BERT) BosID() (int32, bool) { return t.bos, t.bos >= 0 }

// ID is a token's id (a vocabulary entry or an added token such as "[ENC]").
func (t *BERT) ID(token string) (int32, bool) {
	id, ok := t.vocab.ids[token]
	return id, ok
}

// VocabSize is one more than the largest token id (added tokens included).
func (t *BERT) VocabSize() int { return t.vocab.size() }

// Encode tokenizes text as [CLS], its word pieces, [SEP]; it is never truncated.
func (t *BERT) Encode(text string) []int32 {
	ids := append([]int32(nil), t.post.prefix...)
	ids = t.encode(text, ids)
	return append(ids, t.post.suffix...)
}

// EncodeTo is Encode padded with [PAD] to length, with the attention mask (1 for tokens,
// 0 for padding). Text that does not fit is an error, not truncated: a question cut short
// would be answered wrongly.
func (t *BERT) EncodeTo(text string, length int) (ids, mask []int32, err error) {
	ids = t.Encode(text)
	if len(ids) > length {
		return nil, nil, fmt.Errorf("tokenizer: %q is %d tokens with [CLS] and [SEP], more than the %d that fit", text, len(ids), length)
	}
	mask = make([]int32, length)
	for i := range ids {
		mask[i] = 1
	}
	for len(ids) < length {
		ids = append(ids, t.pad)
	}
	return ids, mask, nil
}

func (t *BERT) encode(text string, ids []int32) []int32 {
	for _, seg := range t.added.segments(strings.ToValidUTF8(text, "\uFFFD"), t.normalize) {
		if seg.id >= 0 {
			ids = append(ids, seg.id)
			continue
		}
		for _, w := range bertWords(seg.text) {
			ids = t.model.encode(w, ids)
		}
	}
	return ids
}

// Tokens are the text's word pieces, without [CLS] and [SEP] (transformers' tokenize).
func (t *BERT) Tokens(text string) []string {
	ids := t.encode(text, nil)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i], _ = t.vocab.token(id)
	}
	return out
}

// Decode turns ids back into text as transformers' decode(ids, skip_special_tokens=True)
// does: special tokens ([CLS], [SEP], [PAD], [DEC], …) and ids outside the vocabulary are
// skipped, a "##" piece joins the word before it, other tokens are separated by spaces, and
// spaces before punctuation go as the checkpoint's decoder and
// clean_up_tokenization_spaces say.
func (t *BERT) Decode(ids []int32) string {
	var b strings.Builder
	first := true
	for _, id := range ids {
		if t.added.special(id) {
			continue
		}
		tok, ok := t.vocab.token(id)
		if !ok {
			continue
		}
		if !first {
			if rest, joined := strings.CutPrefix(tok, t.model.prefix); joined {
				tok = rest
			} else {
				tok = " " + tok
			}
		}
		first = false
		if t.decodeCleanup {
			tok = cleanUpTokenization(tok, true)
		}
		b.WriteString(tok)
	}
	text := b.String()
	if t.cleanUpSpaces {
		text = cleanUpTokenization(text, false)
	}
	return text
}

// The spaces tokenization put before punctuation and English contractions, as pairs of
// text and replacement applied in order: transformers' clean_up_tokenization (over the whole
// text) and the tokenizers library's WordPiece decoder cleanup (per token), which also turns
// " do not" into " don't".
var (
	cleanupPairs = []string{" .", ".", " ?", "?", " !", "!", " ,", ",", " ' ", "'", " n't", "n't", " 'm", "'m",
		" 's", "'s", " 've", "'ve", " 're", "'re"}
	decoderCleanupPairs = []string{" .", ".", " ?", "?", " !", "!", " ,", ",", " ' ", "'", " n't", "n't", " 'm", "'m",
		" do not", " don't", " 's", "'s", " 've", "'ve", " 're", "'re"}
)

// cleanUpTokenization applies the pairs of cleanupPairs or decoderCleanupPairs in order.
func cleanUpTokenization(s string, decoder bool) string {
	pairs := cleanupPairs
	if decoder {
		pairs = decoderCleanupPairs
	}
	for i := 0; i < len(pairs); i += 2 {
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return s
}
