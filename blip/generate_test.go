package blip

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
)

// Token ids of the toy language model.
const (
	tDEC int32 = 0 // decoding starts here
	tEOS int32 = 1
	tA   int32 = 2
	tB   int32 = 3
	tC   int32 = 4
)

// toyLM is a stepper whose next-token distribution is a table keyed by the whole sequence so
// far; sequences not in the table get fallback. It tracks each sequence itself, so a beam
// search that forgets to reorder the caches reads the wrong row of the table.
type toyLM struct {
	probs    map[string][]float64
	fallback []float64
	seqs     [][]int32
	cap      int
	steps    int
}

func key(seq []int32) string { return fmt.Sprint(seq) }

func (m *toyLM) begin(batch int) error { m.seqs = make([][]int32, batch); return nil }
func (m *toyLM) vocab() int            { return len(m.fallback) }
func (m *toyLM) capacity() int         { return m.cap }

func (m *toyLM) step(ids []int32, pos int) ([]float32, error) {
	m.steps++
	out := make([]float32, len(ids)*m.vocab())
	for b, id := range ids {
		if len(m.seqs[b]) != pos {
			return nil, fmt.Errorf("sequence %d has %d tokens, step at position %d", b, len(m.seqs[b]), pos)
		}
		m.seqs[b] = append(m.seqs[b], id)
		p, ok := m.probs[key(m.seqs[b])]
		if !ok {
			p = m.fallback
		}
		for i, v := range p {
			out[b*m.vocab()+i] = float32(math.Log(v)) // log-probabilities are valid logits
		}
	}
	return out, nil
}

func (m *toyLM) reorder(from []int) error {
	old := m.seqs
	m.seqs = make([][]int32, len(from))
	for b, f := range from {
		m.seqs[b] = append([]int32(nil), old[f]...)
	}
	return nil
}

// defaults are transformers' generation defaults.
func defaults() GenerateOptions {
	return GenerateOptions{MaxLength: 20, NumBeams: 1, LengthPenalty: 1, RepetitionPenalty: 1, EarlyStopping: "false"}
}

// branching is where greedy and beam search part: after A, greedy takes the first of two
// tied tokens (A), but the other (B) leads to a confident end. Sequences off the table (what
// a beam with the wrong history would see) go on with C.
func branching() *toyLM {
	return &toyLM{cap: 32, fallback: []float64{1e-6, 0.05, 0.025, 0.025, 0.9 - 1e-6}, probs: map[string][]float64{
		key([]int32{tDEC}):         {1e-6, 0.1, 0.5, 0.4 - 1e-6, 0},
		key([]int32{tDEC, tA}):     {1e-6, 0.3, 0.35, 0.35 - 1e-6, 0},
		key([]int32{tDEC, tB}):     {1e-6, 0.3, 0.35, 0.35 - 1e-6, 0},
		key([]int32{tDEC, tA, tA}): {1e-6, 0.5, 0.25, 0.25 - 1e-6, 0},
		key([]int32{tDEC, tA, tB}): {1e-6, 0.99, 0.005, 0.005 - 1e-6, 0},
	}}
}

func TestGreedyTakesTheLikeliestTokenAndStopsAtEOS(t *testing.T) {
	lm := branching()
	got, err := generate(lm, []int32{tDEC}, tEOS, defaults())
	if err != nil {
		t.Fatal(err)
	}
	// A (0.5), then A and B tie at 0.35 and the first wins (torch.argmax), then EOS.
	if want := []int32{tDEC, tA, tA, tEOS}; !slices.Equal(got, want) {
		t.Fatalf("greedy %v, want %v", got, want)
	}
	if lm.steps != 3 {
		t.Errorf("%d decoder steps for 3 new tokens, want 3 (one per token, no recomputation)", lm.steps)
	}
}

func TestBeamSearchFindsTheLikelierSequence(t *testing.T) {
	o := defaults()
	o.NumBeams = 2
	o.MaxNewTokens = 3
	got, err := generate(branching(), []int32{tDEC}, tEOS, o)
	if err != nil {
		t.Fatal(err)
	}
	// Both beams continue A at the second step (the second comes from the first: the caches
	// must be reordered), and [DEC A B EOS] scores log(0.5·0.35·0.99)/3 = -0.58 against
	// [DEC A A EOS]'s log(0.5·0.35·0.5)/3 = -0.81.
	if want := []int32{tDEC, tA, tB, tEOS}; !slices.Equal(got, want) {
		t.Fatalf("beam search %v, want %v", got, want)
	}
}

func TestMaxLengthCountsThePrompt(t *testing.T) {
	never := &toyLM{cap: 32, fallback: []float64{0.1, 1e-9, 0.5, 0.4 - 1e-9, 0}}
	for _, tc := range []struct {
		name string
		o    func(*GenerateOptions)
		want int
	}{
		{"max_new_tokens", func(o *GenerateOptions) { o.MaxNewTokens = 4 }, 2 + 4},
		{"max_length", func(o *GenerateOptions) { o.MaxLength = 5 }, 5},
		{"max_new_tokens wins", func(o *GenerateOptions) { o.MaxLength = 3; o.MaxNewTokens = 6 }, 2 + 6},
	} {
		for _, beams := range []int{1, 3} {
			o := defaults()
			o.NumBeams = beams
			tc.o(&o)
			got, err := generate(never, []int32{tDEC, tC}, tEOS, o)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want || !slices.Equal(got[:2], []int32{tDEC, tC}) {
				t.Errorf("%s, %d beams: %v, want the prompt and %d tokens in all", tc.name, beams, got, tc.want)
			}
		}
	}
}

func TestMinLengthDelaysEOS(t *testing.T) {
	lm := &toyLM{cap: 32, fallback: []float64{1e-6, 0.7, 0.2, 0.1 - 1e-6, 0}}
	for _, beams := range []int{1, 3} {
		o := defaults()
		o.NumBeams, o.MinLength = beams, 4
		got, err := generate(lm, []int32{tDEC}, tEOS, o)
		if err != nil {
			t.Fatal(err)
		}
		// min_length counts [DEC]: three tokens before EOS may come.
		if want := []int32{tDEC, tA, tA, tA, tEOS}; !slices.Equal(got, want) {
			t.Errorf("%d beams, min_length 4: %v, want %v", beams, got, want)
		}
		o.MinLength, o.MinNewTokens = 0, 2
		got, err = generate(lm, []int32{tDEC}, tEOS, o)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int32{tDEC, tA, tA, tEOS}; !slices.Equal(got, want) {
			t.Errorf("%d beams, min_new_tokens 2: %v, want %v", beams, got, want)
		}
	}
}

func TestRepetitionPenalty(t *testing.T) {
	// Raw logits: A 2, B 1.5, C -0.5, EOS -3: greedy repeats A forever without a penalty.
	scores := func() []float32 { return []float32{-9, -3, 2, 1.5, -0.5} }
	o := defaults()
	o.RepetitionPenalty = 1.5
	s := scores()
	o.process(s, []int32{tDEC, tA, tC, tA}, 1, tEOS)
	// Seen tokens: positive scores divided, negative multiplied; each token once however
	// often it occurs.
	want := []float32{-13.5, -3, 2 / 1.5, 1.5, -0.75}
	for i := range want {
		if math.Abs(float64(s[i]-want[i])) > 1e-6 {
			t.Fatalf("penalised scores %v, want %v", s, want)
		}
	}
}

func TestNoRepeatNgram(t *testing.T) {
	o := defaults()
	o.NoRepeatNgramSize = 2
	s := []float32{0, 0, 0, 0, 0}
	// The bigrams so far: (DEC A) (A B) (B A); the next follows A, so B is banned.
	o.process(s, []int32{tDEC, tA, tB, tA}, 1, tEOS)
	for i, v := range s {
		if banned := int32(i) == tB; banned != math.IsInf(float64(v), -1) {
			t.Fatalf("scores %v: only B (after A B) should be banned", s)
		}
	}
}

func TestEarlyStoppingModes(t *testing.T) {
	// Every mode must return a finished hypothesis of the toy model, and "true" stops as soon
	// as the beams are full, so it never takes more steps than the heuristic.
	steps := map[string]int{}
	for _, mode := range []string{"true", "false", "never"} {
		lm := branching()
		lm.fallback = []float64{1e-6, 0.9, 0.05, 0.05 - 1e-6, 0}
		o := defaults()
		o.NumBeams, o.MaxNewTokens, o.EarlyStopping = 2, 6, mode
		got, err := generate(lm, []int32{tDEC}, tEOS, o)
		if err != nil {
			t.Fatal(err)
		}
		if got[len(got)-1] != tEOS {
			t.Errorf("early_stopping %s: %v does not end with EOS", mode, got)
		}
		steps[mode] = lm.steps
	}
	if steps["true"] > steps["false"] || steps["false"] > steps["never"] {
		t.Errorf("decoder steps by early_stopping mode %v: want true <= false <= never", steps)
	}
}

func TestGenerateRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		o      func(*GenerateOptions)
		prompt []int32
		want   string
	}{
		{func(o *GenerateOptions) {}, nil, "empty prompt"},
		{func(o *GenerateOptions) { o.NumBeams = 0 }, []int32{tDEC}, "num_beams 0"},
		{func(o *GenerateOptions) { o.MaxLength = 1 }, []int32{tDEC}, "leaves no room"},
		{func(o *GenerateOptions) { o.MaxNewTokens = 40 }, []int32{tDEC}, "exceed the decoder's 32 positions"},
		{func(o *GenerateOptions) { o.RepetitionPenalty = 0 }, []int32{tDEC}, "repetition_penalty"},
		{func(o *GenerateOptions) { o.EarlyStopping = "soon" }, []int32{tDEC}, "early_stopping"},
	} {
		o := defaults()
		tc.o(&o)
		_, err := generate(branching(), tc.prompt, tEOS, o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want it to mention %q", err, tc.want)
		}
	}
}

func TestTopKMatchesAStableSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		v := make([]float32, 1+rng.IntN(50))
		for i := range v {
			v[i] = float32(rng.IntN(8)) // many ties
		}
		k := 1 + rng.IntN(len(v))
		want := make([]int, len(v))
		for i := range want {
			want[i] = i
		}
		sort.SliceStable(want, func(a, b int) bool { return v[want[a]] > v[want[b]] })
		if got := topK(v, k, nil); !slices.Equal(got, want[:k]) {
			t.Fatalf("topK(%v, %d) = %v, want %v", v, k, got, want[:k])
		}
	}
}

func TestLogSoftmax(t *testing.T) {
	x := []float32{1, 2, 3, -1e30}
	got := make([]float32, len(x))
	logSoftmax(got, x)
	var sum float64
	for _, v := range got {
		sum += math.Exp(float64(v))
	}
	if math.Abs(sum-1) > 1e-6 || math.Abs(float64(got[2]-got[1])-1) > 1e-6 {
		t.Fatalf("logSoftmax(%v) = %v (probabilities sum to %v)", x, got, sum)
	}
}
