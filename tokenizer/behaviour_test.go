package tokenizer

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func loadCLIP(t testing.TB, dir string) *CLIP {
	t.Helper()
	tok, err := LoadCLIP(filepath.Join("testdata", dir))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func loadBERT(t testing.TB, dir string) *BERT {
	t.Helper()
	tok, err := LoadBERT(filepath.Join("testdata", dir))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Expected ids below are built from ids the golden tests pin: "a" 320 ("a</w>"), "cat"
// 578 339 ("ca", "t</w>"), "photo" 554, "of" 530 for CLIP; "a" 47, "cat" 120 for BERT.

// Added tokens in the text become their ids, whole, as in the tokenizers library.
func TestAddedTokensInText(t *testing.T) {
	clip := loadCLIP(t, "clip_shapes")
	ids, mask, err := clip.EncodeTo("a<|endoftext|>cat", 8)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{712, 320, 713, 578, 339, 713, 713, 713}; !reflect.DeepEqual(ids, want) {
		t.Errorf("CLIP ids %v, want %v", ids, want)
	}
	if want := []int32{1, 1, 1, 1, 1, 1, 0, 0}; !reflect.DeepEqual(mask, want) {
		t.Errorf("CLIP mask %v, want %v", mask, want)
	}

	for _, dir := range []string{"blip_shapes", "bert_vocab"} {
		bert := loadBERT(t, dir)
		if got, want := bert.Encode("[DEC] a cat[SEP]"), []int32{2, 200, 47, 120, 3, 3}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, want %v", dir, got, want)
		}
	}
}

func TestSpecialIDs(t *testing.T) {
	for _, dir := range []string{"blip_shapes", "bert_vocab"} {
		b := loadBERT(t, dir)
		bos, hasBos := b.BosID()
		enc, hasEnc := b.ID("[ENC]")
		if b.ClsID() != 2 || b.SepID() != 3 || b.PadID() != 0 || b.UnkID() != 1 || bos != 200 || !hasBos || enc != 201 || !hasEnc || b.VocabSize() != 202 {
			t.Errorf("%s: cls %d sep %d pad %d unk %d bos %d/%v enc %d/%v vocab %d; want 2 3 0 1 200 201 202",
				dir, b.ClsID(), b.SepID(), b.PadID(), b.UnkID(), bos, hasBos, enc, hasEnc, b.VocabSize())
		}
		if _, ok := b.ID("[NOPE]"); ok {
			t.Errorf("%s: ID of an unknown token", dir)
		}
	}
	// vocab.txt alone: no bos token, nothing added beyond the vocabulary.
	dir := t.TempDir()
	data, _ := os.ReadFile(filepath.Join("testdata", "bert_vocab", "vocab.txt"))
	os.WriteFile(filepath.Join(dir, "vocab.txt"), data, 0o644)
	b, err := LoadBERT(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.BosID(); ok || b.VocabSize() != 200 {
		t.Errorf("bare vocab.txt: bos present %v, vocab %d; want none and 200", ok, b.VocabSize())
	}
	if c := loadCLIP(t, "clip_vocab"); c.ContextLength() != 77 || c.StartID() != 712 || c.EndID() != 713 {
		t.Errorf("vocab.json CLIP: context %d start %d end %d, want 77 712 713", c.ContextLength(), c.StartID(), c.EndID())
	}
}

// Text longer than the context keeps its first tokens and still ends with the end token,
// as transformers' truncation=True does.
func TestCLIPTruncation(t *testing.T) {
	clip := loadCLIP(t, "clip_shapes")
	ids, mask, err := clip.EncodeTo("a photo of a cat a photo of a cat", 8)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{712, 320, 554, 530, 320, 578, 339, 713}; !reflect.DeepEqual(ids, want) {
		t.Errorf("truncated ids %v, want %v", ids, want)
	}
	if want := []int32{1, 1, 1, 1, 1, 1, 1, 1}; !reflect.DeepEqual(mask, want) {
		t.Errorf("truncated mask %v, want %v", mask, want)
	}
	long := strings.Repeat("cat ", 100)
	full, _ := clip.Encode(long)
	if len(full) != 32 || full[31] != 713 || full[0] != 712 {
		t.Errorf("Encode of a long text: %v", full)
	}
	if _, _, err := clip.EncodeTo("a", 1); err == nil || !strings.Contains(err.Error(), "no room") {
		t.Errorf("EncodeTo length 1: %v", err)
	}
}

func TestBERTEncodeTo(t *testing.T) {
	b := loadBERT(t, "blip_shapes")
	ids, mask, err := b.EncodeTo("what color is the circle?", 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{2, 185, 124, 144, 176, 122, 25, 3, 0, 0}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ids %v, want %v", ids, want)
	}
	if want := []int32{1, 1, 1, 1, 1, 1, 1, 1, 0, 0}; !reflect.DeepEqual(mask, want) {
		t.Errorf("mask %v, want %v", mask, want)
	}
	_, _, err = b.EncodeTo("what color is the circle?", 5)
	if err == nil || !strings.Contains(err.Error(), `"what color is the circle?" is 8 tokens`) || !strings.Contains(err.Error(), "more than the 5") {
		t.Errorf("too long: %v", err)
	}
}

func TestBERTDecode(t *testing.T) {
	b := loadBERT(t, "blip_shapes")
	ids := b.Encode("it's raining, they're here.")
	// The checkpoint's decoder joins word pieces and drops the space before "," and "."
	// (token by token); clean_up_tokenization_spaces is not set, so "' s" stays apart.
	if got, want := b.Decode(ids), "it ' s raining, they ' re here."; got != want {
		t.Errorf("Decode = %q, want %q", got, want)
	}
	// With clean_up_tokenization_spaces (many 4.x checkpoints set it) contractions close up.
	dir := t.TempDir()
	copyTestFile(t, filepath.Join("testdata", "blip_shapes", "tokenizer.json"), filepath.Join(dir, "tokenizer.json"))
	cfg, _ := os.ReadFile(filepath.Join("testdata", "blip_shapes", "tokenizer_config.json"))
	cfg = []byte(strings.Replace(string(cfg), "{", `{"clean_up_tokenization_spaces": true,`, 1))
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cfg, 0o644)
	clean, err := LoadBERT(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := clean.Decode(ids), "it's raining, they're here."; got != want {
		t.Errorf("Decode with clean-up = %q, want %q", got, want)
	}
	cases := []struct {
		ids  []int32
		want string
	}{
		{[]int32{200, 47, 120, 3, 0, 0}, "a cat"}, // [DEC], [SEP] and [PAD] are special
		{[]int32{47, 1, 9999, -1, 120}, "a cat"},  // so is [UNK]; unknown ids are skipped
		{[]int32{92, 47}, "##t a"},                // a leading word piece keeps its "##"
		{[]int32{47, 201, 120}, "a cat"},          // [ENC]
		{nil, ""},
	}
	for _, c := range cases {
		if got := b.Decode(c.ids); got != c.want {
			t.Errorf("Decode(%v) = %q, want %q", c.ids, got, c.want)
		}
	}
}

func TestCLIPDecode(t *testing.T) {
	clip := loadCLIP(t, "clip_vocab")
	cases := map[string]string{
		// Every "</w>" becomes a space, so punctuation stands apart, as in transformers.
		"A Photo Of A DOG!":                "a photo of a dog !",
		"café déjà vu":                     "café déjà vu",
		"中国 cat":                           "中国 cat",
		"emoji 🐱 cat":                      "emoji 🐱 cat",
		"  what color   is\tthe circle?  ": "what color is the circle ?",
	}
	for text, want := range cases {
		ids, _ := clip.Encode(text)
		if got := clip.Decode(ids); got != want {
			t.Errorf("Decode(Encode(%q)) = %q, want %q", text, got, want)
		}
	}
	// Half of a multi-byte character decodes to U+FFFD.
	ids, _ := clip.Encode("🐱")
	var body []int32
	for _, id := range ids {
		if id != clip.StartID() && id != clip.EndID() {
			body = append(body, id)
		}
	}
	if got := clip.Decode(body[:1]); !strings.Contains(got, "\uFFFD") {
		t.Errorf("Decode of a partial character = %q, want U+FFFD", got)
	}
}

// Invalid UTF-8 is read as U+FFFD, as Python would after decoding with errors="replace".
func TestInvalidUTF8(t *testing.T) {
	clip := loadCLIP(t, "clip_vocab")
	a, _ := clip.Encode("a\xffb")
	b, _ := clip.Encode("a\uFFFDb")
	if !reflect.DeepEqual(a, b) {
		t.Errorf("CLIP: %v vs %v", a, b)
	}
	bert := loadBERT(t, "blip_shapes")
	if got, want := bert.Encode("a\xffb"), bert.Encode("ab"); !reflect.DeepEqual(got, want) {
		t.Errorf("BERT drops U+FFFD: %v vs %v", got, want) // BertNormalizer removes U+FFFD
	}
}

func TestNormalizers(t *testing.T) {
	cases := []struct {
		name string
		f    normalizer
		in   string
		want string
	}{
		{"lowercase", lowercase, "İSTANBUL ΣΑΣ Ω", "i\u0307stanbul σασ ω"},
		{"collapse", collapseSpaces, " a \t\n b\u00a0\u3000c ", " a b c "},
		{"strip accents", stripAccents, "Crème Brûlée ñ", "Creme Brulee n"},
		{"clean", cleanBertText, "a\x00b\u200bc\td\uFFFDe\u0007f\ng", "abc def g"},
		{"cjk", spaceCJK, "中a国", " 中 a 国 "},
		{"cjk not kana", spaceCJK, "カタカナ", "カタカナ"},
		{"bert", bertNormalizer(true, true, true, nil), "Héllo\t中", "hello  中 "},
		{"bert cased", bertNormalizer(true, true, false, nil), "Héllo", "Héllo"},
		{"bert strip only", bertNormalizer(false, false, false, ptr(true)), "Héllo", "Hello"},
		{"bert lower keep accents", bertNormalizer(false, false, true, ptr(false)), "Héllo", "héllo"},
	}
	for _, c := range cases {
		if got := c.f(c.in); got != c.want {
			t.Errorf("%s(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestPreTokenizers(t *testing.T) {
	clip := map[string][]string{
		"it's":          {"it", "'s"},
		"''s":           {"''", "s"},
		"x'sy":          {"x", "'s", "y"},
		"a1b22":         {"a", "1", "b", "2", "2"},
		"hello!!world ": {"hello", "!!", "world"},
		"e\u0301":       {"e", "\u0301"}, // a combining mark is not a letter
		"they'll've":    {"they", "'ll", "'ve"},
		"٣٤":            {"٣", "٤"}, // Arabic-Indic digits are numbers, one at a time
		"   ":           nil,
	}
	for in, want := range clip {
		if got := clipWords(in); !reflect.DeepEqual(got, want) {
			t.Errorf("clipWords(%q) = %q, want %q", in, got, want)
		}
	}
	bert := map[string][]string{
		"Hello, world!": {"Hello", ",", "world", "!"},
		"a$b+c":         {"a", "$", "b", "+", "c"},
		"x¿y—z":         {"x", "¿", "y", "—", "z"},
		"  ":            nil,
		"a\u00a0b":      {"a", "b"},
	}
	for in, want := range bert {
		if got := bertWords(in); !reflect.DeepEqual(got, want) {
			t.Errorf("bertWords(%q) = %q, want %q", in, got, want)
		}
	}
}

// A word longer than 100 characters, or one the vocabulary cannot cover, is one [UNK].
func TestWordPieceUnknown(t *testing.T) {
	b := loadBERT(t, "blip_shapes")
	if got := b.Encode(strings.Repeat("a", 101)); !reflect.DeepEqual(got, []int32{2, 1, 3}) {
		t.Errorf("101 characters: %v, want [2 1 3]", got)
	}
	if got := b.Encode(strings.Repeat("a", 100)); len(got) != 102 {
		t.Errorf("100 characters: %d ids, want 100 pieces and [CLS] [SEP]", len(got))
	}
	if got := b.Encode("cat🐱"); !reflect.DeepEqual(got, []int32{2, 1, 3}) {
		t.Errorf("a word with an uncovered character: %v, want [2 1 3]", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	clip := loadCLIP(t, "clip_shapes")
	bert := loadBERT(t, "blip_shapes")
	wantC, _ := clip.Encode("a photo of a red circle")
	wantB := bert.Encode("what color is the circle?")
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				c, _ := clip.Encode("a photo of a red circle")
				b := bert.Encode("what color is the circle?")
				if !reflect.DeepEqual(c, wantC) || !reflect.DeepEqual(b, wantB) {
					t.Error("concurrent encodings differ")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func copyTestFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// editedDir copies a testdata folder and rewrites one file with edit.
func editedDir(t *testing.T, src, file string, edit func(string) string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(filepath.Join("testdata", src))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		copyTestFile(t, filepath.Join("testdata", src, e.Name()), filepath.Join(dir, e.Name()))
	}
	path := filepath.Join(dir, file)
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte(edit(string(data))), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// obj is a JSON object being edited.
type obj map[string]any

func (m obj) get(key string) obj { return m[key].(map[string]any) }

func (m obj) list(key string) []obj {
	var out []obj
	for _, v := range m[key].([]any) {
		out = append(out, v.(map[string]any))
	}
	return out
}

// editJSON edits a JSON file's content through edit.
func editJSON(t *testing.T, edit func(obj)) func(string) string {
	return func(s string) string {
		var m obj
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
}

func TestLoadErrors(t *testing.T) {
	empty := t.TempDir()
	if _, err := LoadCLIP(empty); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no tokenizer.json") || !strings.Contains(err.Error(), "vocab.json") {
		t.Errorf("CLIP from an empty folder: %v", err)
	}
	if _, err := LoadBERT(empty); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "vocab.txt") {
		t.Errorf("BERT from an empty folder: %v", err)
	}
	replace := func(old, new string) func(string) string {
		return func(s string) string {
			if !strings.Contains(s, old) {
				t.Fatalf("fixture lacks %q", old)
			}
			return strings.Replace(s, old, new, 1)
		}
	}
	clipCases := []struct {
		name, file string
		edit       func(string) string
		want       string
	}{
		{"bad JSON", "tokenizer.json", func(s string) string { return s[:100] }, "bad JSON"},
		{"not BPE", "tokenizer.json", editJSON(t, func(m obj) { m.get("model")["type"] = "Unigram" }), `model type "Unigram", want BPE`},
		{"other pre-tokenizer", "tokenizer.json", editJSON(t, func(m obj) { m.get("pre_tokenizer").list("pretokenizers")[0]["behavior"] = "Isolated" }), "is not CLIP's"},
		{"other normalizer", "tokenizer.json", editJSON(t, func(m obj) { m.get("normalizer").list("normalizers")[0]["type"] = "Precompiled" }), `normalizer "Precompiled" is not supported`},
		{"merge outside vocab", "tokenizer.json", editJSON(t, func(m obj) { m.get("model")["merges"].([]any)[0] = []string{"t", "zz"} }), `merge 1 ("t" "zz")`},
		{"short context", "config.json", replace(`"max_position_embeddings": 32`, `"max_position_embeddings": 1`), "context length 1"},
		{"bad config", "config.json", replace(`"max_position_embeddings": 32`, `"max_position_embeddings": "long"`), "max_position_embeddings: want an integer"},
		{"pad not in vocab", "tokenizer_config.json", replace(`"pad_token": "<|endoftext|>"`, `"pad_token": "<pad>"`), `pad token "<pad>"`},
		// Ids out of range: each was a Go panic or a gigabyte table before it was checked.
		{"negative id", "tokenizer.json", editJSON(t, func(m obj) { m.get("model").get("vocab")["!"] = -3 }), `token "!" has id -3, outside 0 to 1048575`},
		{"huge id", "tokenizer.json", editJSON(t, func(m obj) { m.get("model").get("vocab")["!"] = 2147483647 }), `token "!" has id 2147483647, outside 0 to 1048575`},
		{"huge added id", "tokenizer.json", editJSON(t, func(m obj) { m.list("added_tokens")[0]["id"] = 1 << 30 }), `added token "<|startoftext|>" has id 1073741824`},
		{"start id outside", "tokenizer.json", editJSON(t, func(m obj) { m.get("post_processor")["cls"] = []any{"<|startoftext|>", 99999} }), "start token id 99999 is not in the vocabulary (714 ids)"},
	}
	for _, c := range clipCases {
		_, err := LoadCLIP(editedDir(t, "clip_shapes", c.file, c.edit))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "tokenizer: ") {
			t.Errorf("CLIP %s: %v, want %q", c.name, err, c.want)
		}
	}
	vocabCases := []struct {
		name, file string
		edit       func(string) string
		want       string
	}{
		{"bad merge line", "merges.txt", replace("t h\n", "th\n"), `merges.txt:2: "th" is not two symbols`},
		{"no merges", "merges.txt", nil, "merges.txt"},
		{"no end token", "vocab.json", replace(`"<|endoftext|>"`, `"<|end|>"`), `"<|endoftext|>" is not in the vocabulary`},
	}
	for _, c := range vocabCases {
		var dir string
		if c.edit == nil {
			dir = editedDir(t, "clip_vocab", c.file, func(s string) string { return s })
			os.Remove(filepath.Join(dir, c.file))
		} else {
			dir = editedDir(t, "clip_vocab", c.file, c.edit)
		}
		if _, err := LoadCLIP(dir); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CLIP vocab %s: %v, want %q", c.name, err, c.want)
		}
	}
	bertCases := []struct {
		name, file string
		edit       func(string) string
		want       string
	}{
		{"not WordPiece", "tokenizer.json", editJSON(t, func(m obj) { m.get("model")["type"] = "BPE" }), `model type "BPE", want WordPiece`},
		{"other pre-tokenizer", "tokenizer.json", editJSON(t, func(m obj) { m["pre_tokenizer"] = map[string]any{"type": "Whitespace"} }), "want BertPreTokenizer"},
		{"bos missing", "tokenizer_config.json", replace(`"bos_token": "[DEC]"`, `"bos_token": "[BOS]"`), `bos token "[BOS]"`},
		{"bad config", "tokenizer_config.json", replace(`"do_lower_case": true`, `"do_lower_case": 1`), ""},
		{"single word", "tokenizer.json", editJSON(t, func(m obj) { m.list("added_tokens")[6]["single_word"] = true }), "single_word matching is not supported"},
		{"negative id", "tokenizer.json", editJSON(t, func(m obj) { m.get("model").get("vocab")["[UNK]"] = -1 }), `token "[UNK]" has id -1`},
		{"sep id outside", "tokenizer.json", editJSON(t, func(m obj) {
			m.get("post_processor").get("special_tokens").get("[SEP]")["ids"] = []any{5000}
		}), "[SEP] token id 5000 is not in the vocabulary (202 ids)"},
	}
	for _, c := range bertCases {
		_, err := LoadBERT(editedDir(t, "blip_shapes", c.file, c.edit))
		if c.want == "" { // tokenizer.json governs; a bad unused key is not an error there
			if err != nil {
				t.Errorf("BERT %s: %v", c.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "tokenizer: ") {
			t.Errorf("BERT %s: %v, want %q", c.name, err, c.want)
		}
	}
	_, err := LoadBERT(editedDir(t, "bert_vocab", "tokenizer_config.json", replace(`"do_lower_case": true`, `"do_lower_case": 1`)))
	if err == nil || !strings.Contains(err.Error(), "do_lower_case: want true or false") {
		t.Errorf("vocab.txt with a bad do_lower_case: %v", err)
	}
}

func BenchmarkCLIPEncodeLabel(b *testing.B) {
	clip := loadCLIP(b, "clip_shapes")
	for b.Loop() {
		clip.Encode("a photo of a purple triangle")
	}
}

func BenchmarkBERTEncodeQuestion(b *testing.B) {
	bert := loadBERT(b, "blip_shapes")
	for b.Loop() {
		bert.Encode("what color is the background?")
	}
}

func BenchmarkBERTDecodeCaption(b *testing.B) {
	bert := loadBERT(b, "blip_shapes")
	ids := []int32{200, 47, 187, 122, 154, 47, 117, 114, 3}
	for b.Loop() {
		bert.Decode(ids)
	}
}

func BenchmarkLoadCLIP(b *testing.B) {
	for b.Loop() {
		loadCLIP(b, "clip_shapes")
	}
}

// A normalized added token matches in normalized text (here lower-cased), and one that
// normalizes to nothing is never matched (rather than matching everywhere).
func TestNormalizedAddedTokens(t *testing.T) {
	dir := editedDir(t, "blip_shapes", "tokenizer.json", editJSON(t, func(m obj) {
		added := m["added_tokens"].([]any)
		m["added_tokens"] = append(added,
			map[string]any{"id": 202, "content": "[Obj]", "normalized": true, "special": false},
			map[string]any{"id": 203, "content": "\u200b", "normalized": true, "special": false}, // removed by clean_text
			map[string]any{"id": 204, "content": "<s>", "lstrip": true, "rstrip": true, "special": true})
	}))
	b, err := LoadBERT(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.Encode("a [OBJ] cat"), []int32{2, 47, 202, 120, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("normalized added token: %v, want %v", got, want)
	}
	// lstrip/rstrip swallow the spaces around the token; the words stay apart.
	if got, want := b.Encode("a  <s>  cat"), []int32{2, 47, 204, 120, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("stripping added token: %v, want %v", got, want)
	}
	if got := b.Decode([]int32{47, 202, 204, 120}); got != "a [Obj] cat" {
		t.Errorf("Decode = %q, want %q (a non-special added token decodes as written; the special one is skipped)", got, "a [Obj] cat")
	}
}
