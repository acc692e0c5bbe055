package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// golden is testdata/tokenizers.json: transformers 5.17's ids and tokens for 14 tricky
// strings, from CLIPTokenizer and CLIPTokenizerFast (padded to 24) and BertTokenizer and
// BertTokenizerFast, over the small vocabularies in clip_vocab and bert_vocab.
type golden map[string]map[string]json.RawMessage

func readGolden(t *testing.T) golden {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "tokenizers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g["CLIPTokenizerFast"]) != 14 || len(g["BertTokenizerFast"]) != 14 {
		t.Fatalf("golden file has %d CLIP and %d BERT strings, want 14 each", len(g["CLIPTokenizerFast"]), len(g["BertTokenizerFast"]))
	}
	return g
}

func (g golden) ints(t *testing.T, class, text string) []int32 {
	t.Helper()
	var v []int32
	if err := json.Unmarshal(g[class][text], &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func (g golden) tokens(t *testing.T, class, text string) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal(g[class+"_tokens"][text], &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Every golden string gives transformers' ids and tokens exactly, whether the tokenizer is
// loaded from vocab.json + merges.txt or from a tokenizer.json over the same vocabulary.
// The reference is CLIPTokenizerFast (the tokenizers library); the slow CLIPTokenizer
// agrees with it on all 14 strings, which the test also checks so a divergence shows.
func TestCLIPGolden(t *testing.T) {
	g := readGolden(t)
	for _, dir := range []string{"clip_vocab", "clip_shapes"} {
		tok, err := LoadCLIP(filepath.Join("testdata", dir))
		if err != nil {
			t.Fatal(err)
		}
		for text := range g["CLIPTokenizerFast"] {
			want := g.ints(t, "CLIPTokenizerFast", text)
			if slow := g.ints(t, "CLIPTokenizer", text); !reflect.DeepEqual(slow, want) {
				t.Errorf("%q: the slow and fast references differ; this package follows the fast one", text)
			}
			ids, mask, err := tok.EncodeTo(text, 24)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ids, want) {
				t.Errorf("%s: %q\n got %v\nwant %v", dir, text, ids, want)
			}
			// The mask covers start, tokens and the first end token; the rest is padding.
			end := 0
			for ids[end] != tok.EndID() {
				end++
			}
			for i, m := range mask {
				if (i <= end) != (m == 1) {
					t.Errorf("%s: %q: mask %v does not cover exactly ids[0:%d]", dir, text, mask, end+1)
					break
				}
			}
			if got, want := tok.Tokens(text), g.tokens(t, "CLIPTokenizerFast", text); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("%s: tokens of %q\n got %q\nwant %q", dir, text, got, want)
			}
		}
	}
}

// Every golden string gives BertTokenizerFast's ids and tokens (and BertTokenizer's: they
// agree), from vocab.txt with or without tokenizer_config.json and from tokenizer.json.
func TestBERTGolden(t *testing.T) {
	g := readGolden(t)
	bare := t.TempDir() // vocab.txt alone: the defaults must be an uncased BERT's
	data, err := os.ReadFile(filepath.Join("testdata", "bert_vocab", "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(bare, "vocab.txt"), data, 0o644)
	for _, dir := range []string{filepath.Join("testdata", "bert_vocab"), filepath.Join("testdata", "blip_shapes"), bare} {
		tok, err := LoadBERT(dir)
		if err != nil {
			t.Fatal(err)
		}
		for text := range g["BertTokenizerFast"] {
			want := g.ints(t, "BertTokenizerFast", text)
			if slow := g.ints(t, "BertTokenizer", text); !reflect.DeepEqual(slow, want) {
				t.Errorf("%q: the slow and fast references differ", text)
			}
			if got := tok.Encode(text); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %q\n got %v\nwant %v", dir, text, got, want)
			}
			if got, want := tok.Tokens(text), g.tokens(t, "BertTokenizerFast", text); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("%s: tokens of %q\n got %q\nwant %q", dir, text, got, want)
			}
		}
	}
}

// shapesReference is testdata/shapes_reference.json: from the trained shapes checkpoints'
// reference.json and reference.safetensors (transformers 5.17).
type shapesReference struct {
	Labels             []string  `json:"labels"`
	Template           string    `json:"template"`
	LabelInputIDs      [][]int32 `json:"label_input_ids"`
	LabelAttentionMask [][]int32 `json:"label_attention_mask"`
	Cases              []struct {
		Image            string  `json:"image"`
		CaptionGreedyIDs []int32 `json:"caption_greedy_ids"`
		CaptionGreedy    string  `json:"caption_greedy"`
		CaptionBeam3IDs  []int32 `json:"caption_beam3_ids"`
		CaptionBeam3     string  `json:"caption_beam3"`
		VQA              []struct {
			Question    string  `json:"question"`
			QuestionIDs []int32 `json:"question_ids"`
			AnswerIDs   []int32 `json:"answer_ids"`
			Answer      string  `json:"answer"`
		} `json:"vqa"`
	} `json:"cases"`
}

func readShapes(t *testing.T) *shapesReference {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "shapes_reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r shapesReference
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Labels) != 15 || len(r.Cases) != 24 {
		t.Fatalf("reference has %d labels and %d cases, want 15 and 24", len(r.Labels), len(r.Cases))
	}
	return &r
}

// The shapes CLIP's 15 label prompts give the ids and masks transformers fed its text tower
// (a batch padded to its longest, 8), and Encode pads them to the model's context, 32.
func TestCLIPShapesLabels(t *testing.T) {
	ref := readShapes(t)
	tok, err := LoadCLIP(filepath.Join("testdata", "clip_shapes"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.ContextLength() != 32 || tok.StartID() != 712 || tok.EndID() != 713 || tok.PadID() != 713 || tok.VocabSize() != 714 {
		t.Errorf("context %d, start %d, end %d, pad %d, vocab %d; want 32, 712, 713, 713, 714",
			tok.ContextLength(), tok.StartID(), tok.EndID(), tok.PadID(), tok.VocabSize())
	}
	for i, label := range ref.Labels {
		prompt := strings.Replace(ref.Template, "{}", label, 1)
		ids, mask, err := tok.EncodeTo(prompt, 8)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ids, ref.LabelInputIDs[i]) || !reflect.DeepEqual(mask, ref.LabelAttentionMask[i]) {
			t.Errorf("%q: ids %v mask %v, want %v %v", prompt, ids, mask, ref.LabelInputIDs[i], ref.LabelAttentionMask[i])
		}
		full, fullMask := tok.Encode(prompt)
		if len(full) != 32 || !reflect.DeepEqual(full[:8], ids) || !reflect.DeepEqual(fullMask[:8], mask) {
			t.Errorf("%q: Encode = %v, want the 8 ids then padding to 32", prompt, full)
		}
		for j := 8; j < 32; j++ {
			if full[j] != tok.PadID() || fullMask[j] != 0 {
				t.Errorf("%q: position %d is %d (mask %d), want padding", prompt, j, full[j], fullMask[j])
				break
			}
		}
		if got := tok.Decode(ids); got != prompt {
			t.Errorf("Decode(%v) = %q, want %q", ids, got, prompt)
		}
	}
}

// The shapes BLIP tokenizer gives transformers' ids for all 120 reference questions and
// decodes every reference caption (greedy and 3-beam) and answer to transformers' text.
func TestBLIPShapesReference(t *testing.T) {
	ref := readShapes(t)
	for _, dir := range []string{"blip_shapes", "bert_vocab"} {
		tok, err := LoadBERT(filepath.Join("testdata", dir))
		if err != nil {
			t.Fatal(err)
		}
		questions, texts := 0, 0
		for _, c := range ref.Cases {
			for _, cap := range []struct {
				ids  []int32
				want string
			}{{c.CaptionGreedyIDs, c.CaptionGreedy}, {c.CaptionBeam3IDs, c.CaptionBeam3}} {
				if got := tok.Decode(cap.ids); got != cap.want {
					t.Errorf("%s: %s: Decode(%v) = %q, want %q", dir, c.Image, cap.ids, got, cap.want)
				}
				texts++
			}
			for _, q := range c.VQA {
				if got := tok.Encode(q.Question); !reflect.DeepEqual(got, q.QuestionIDs) {
					t.Errorf("%s: %q: %v, want %v", dir, q.Question, got, q.QuestionIDs)
				}
				if got := tok.Decode(q.AnswerIDs); got != q.Answer {
					t.Errorf("%s: Decode(%v) = %q, want %q", dir, q.AnswerIDs, got, q.Answer)
				}
				questions++
				texts++
			}
		}
		if questions != 120 || texts != 168 {
			t.Errorf("%s: checked %d questions and %d decodings, want 120 and 168", dir, questions, texts)
		}
	}
}
