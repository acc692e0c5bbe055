package blip

import (
	"context"
	"errors"
	"image"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestBeamSearchReturnsEveryFinishedHypothesisBestFirst(t *testing.T) {
	o := defaults()
	o.NumBeams, o.MaxNewTokens = 2, 3
	hs, err := beamSearch(branching(), []int32{tDEC}, tEOS, o)
	if err != nil {
		t.Fatal(err)
	}
	// The two hypotheses of TestBeamSearchFindsTheLikelierSequence, each scored by its
	// log-probability over its 3 generated tokens.
	want := []struct {
		seq   []int32
		score float64
	}{
		{[]int32{tDEC, tA, tB, tEOS}, math.Log(0.5*0.35*0.99) / 3},
		{[]int32{tDEC, tA, tA, tEOS}, math.Log(0.5*0.35*0.5) / 3},
	}
	if len(hs) != len(want) {
		t.Fatalf("%d hypotheses %v, want %d", len(hs), hs, len(want))
	}
	for i, w := range want {
		if !slices.Equal(hs[i].seq, w.seq) || math.Abs(float64(hs[i].score)-w.score) > 1e-5 {
			t.Errorf("hypothesis %d: %v scored %v, want %v scored %v", i, hs[i].seq, hs[i].score, w.seq, w.score)
		}
	}
}

func TestGreedyIsScoredAsABeam(t *testing.T) {
	h, err := greedy(branching(), []int32{tDEC}, tEOS, defaults())
	if err != nil {
		t.Fatal(err)
	}
	if want := math.Log(0.5*0.35*0.5) / 3; !slices.Equal(h.seq, []int32{tDEC, tA, tA, tEOS}) || math.Abs(float64(h.score)-want) > 1e-5 {
		t.Errorf("greedy %v scored %v, want [DEC A A EOS] scored %v", h.seq, h.score, want)
	}
}

// nucleus is a toy model whose first token is A 0.5, B 0.3, C 0.15, EOS 0.05, after which
// every sequence ends.
func nucleus() *toyLM {
	return &toyLM{cap: 32, fallback: []float64{1e-9, 1 - 3e-9, 1e-9, 1e-9, 0}, probs: map[string][]float64{
		key([]int32{tDEC}): {0, 0.05, 0.5, 0.3, 0.15},
	}}
}

// firstTokens samples n sequences and counts their first tokens.
func firstTokens(t *testing.T, so SampleOptions, n int, seed uint64) map[int32]int {
	t.Helper()
	hs, err := sample(nucleus(), []int32{tDEC}, tEOS, defaults(), so, n, rand.New(rand.NewPCG(seed, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != n {
		t.Fatalf("%d samples, want %d", len(hs), n)
	}
	count := map[int32]int{}
	for _, h := range hs {
		count[h.seq[1]]++
		// A sequence ends at its EOS: what the batch fed it afterwards is not part of it.
		if h.seq[len(h.seq)-1] != tEOS || slices.Index(h.seq, tEOS) != len(h.seq)-1 {
			t.Fatalf("sample %v does not end at its first EOS", h.seq)
		}
	}
	return count
}

func TestSamplingDrawsFromTheNucleus(t *testing.T) {
	const n = 4000
	// top_p 0.8 keeps A and B (0.5 + 0.3 reaches 0.8), renormalised: A 0.625, B 0.375.
	count := firstTokens(t, SampleOptions{TopP: 0.8, Temperature: 1}, n, 1)
	if count[tC]+count[tEOS] != 0 {
		t.Fatalf("first tokens %v: only A and B are in the nucleus", count)
	}
	// Binomial standard deviation sqrt(0.625·0.375/4000) = 0.0077: 4 of them.
	if p := float64(count[tA]) / n; math.Abs(p-0.625) > 0.031 {
		t.Errorf("A drawn %.3f of the time, want 0.625 ± 0.031", p)
	}
	// Without truncation every token comes (EOS 5%, C 15%).
	count = firstTokens(t, SampleOptions{TopP: 1, Temperature: 1}, n, 2)
	if p := float64(count[tC]) / n; math.Abs(p-0.15) > 0.023 {
		t.Errorf("C drawn %.3f of the time without truncation, want 0.15 ± 0.023", p)
	}
	if count[tEOS] == 0 {
		t.Errorf("first tokens %v: EOS (5%%) never drawn", count)
	}
	// top_k 1, or a temperature near zero, is greedy.
	for _, so := range []SampleOptions{{TopP: 1, TopK: 1, Temperature: 1}, {TopP: 1, Temperature: 1e-3}} {
		if count := firstTokens(t, so, 200, 3); count[tA] != 200 {
			t.Errorf("%+v: first tokens %v, want A every time", so, count)
		}
	}
}

func TestSamplingIsSeeded(t *testing.T) {
	draw := func(seed uint64) [][]int32 {
		hs, err := sample(branching(), []int32{tDEC}, tEOS, defaults(), SampleOptions{TopP: 1, Temperature: 1}, 8, rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatal(err)
		}
		var out [][]int32
		for _, h := range hs {
			out = append(out, h.seq)
		}
		return out
	}
	a, b, c := draw(7), draw(7), draw(8)
	if !slices.EqualFunc(a, b, slices.Equal) {
		t.Errorf("seed 7 twice gave %v and %v", a, b)
	}
	if slices.EqualFunc(a, c, slices.Equal) {
		t.Errorf("seeds 7 and 8 gave the same 8 samples %v", a)
	}
}

func TestSampleScoreIsItsLogProbability(t *testing.T) {
	hs, err := sample(nucleus(), []int32{tDEC}, tEOS, defaults(), SampleOptions{TopP: 1, TopK: 1, Temperature: 1}, 1, rand.New(rand.NewPCG(1, 0)))
	if err != nil {
		t.Fatal(err)
	}
	want := (math.Log(0.5) + math.Log(1-3e-9)) / 2 // [DEC A EOS]
	if !slices.Equal(hs[0].seq, []int32{tDEC, tA, tEOS}) || math.Abs(float64(hs[0].score)-want) > 1e-5 {
		t.Errorf("sample %v scored %v, want [DEC A EOS] scored %v", hs[0].seq, hs[0].score, want)
	}
}

func TestSamplingRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		so   SampleOptions
		want string
	}{
		{SampleOptions{TopP: 0, Temperature: 1}, "top_p 0"},
		{SampleOptions{TopP: 1.5, Temperature: 1}, "top_p 1.5"},
		{SampleOptions{TopP: 0.9, TopK: -1, Temperature: 1}, "top_k -1"},
		{SampleOptions{TopP: 0.9, Temperature: 0}, "temperature 0"},
		{SampleOptions{TopP: 0.9, Temperature: math.NaN()}, "temperature NaN"},
	} {
		_, err := sample(nucleus(), []int32{tDEC}, tEOS, defaults(), tc.so, 1, rand.New(rand.NewPCG(1, 0)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want it to mention %q", tc.so, err, tc.want)
		}
	}
	if _, err := sample(nucleus(), []int32{tDEC}, tEOS, defaults(), DefaultSampleOptions(), 1, nil); err == nil {
		t.Error("no random source: no error")
	}
}

// fixedScorer gives each text the score of its map, counting calls.
type fixedScorer struct {
	scores map[string]float64
	calls  int
}

func (f *fixedScorer) Match(_ context.Context, _ image.Image, texts []string) ([]float64, error) {
	f.calls++
	out := make([]float64, len(texts))
	for i, t := range texts {
		out[i] = f.scores[t]
	}
	return out, nil
}

func TestRankOrdersByTheGeometricMeanOfTheJudges(t *testing.T) {
	cands := func() []Candidate {
		return []Candidate{{Text: "a", Decoder: -0.1}, {Text: "b", Decoder: -0.2}, {Text: "c", Decoder: -0.3}, {Text: "d", Decoder: -0.4}}
	}
	itm := &fixedScorer{scores: map[string]float64{"a": 0.2, "b": 0.9, "c": 0.9, "d": 1}}
	clip := &fixedScorer{scores: map[string]float64{"a": 0.8, "b": 0.4, "c": 0.4, "d": 0}}

	cs := cands()
	if err := Rank(context.Background(), nil, cs, Judge{"itm", itm}); err != nil {
		t.Fatal(err)
	}
	// d first; b and c tie at 0.9 and keep the decoder's order.
	if got := texts(cs); !slices.Equal(got, []string{"d", "b", "c", "a"}) || cs[0].Score != 1 || cs[0].Scores["itm"] != 1 {
		t.Errorf("ranked by itm: %v (%+v), want d b c a", got, cs)
	}

	cs = cands()
	if err := Rank(context.Background(), nil, cs, Judge{"itm", itm}, Judge{"clip", clip}); err != nil {
		t.Fatal(err)
	}
	// sqrt(0.9·0.4) = 0.6 for b and c, sqrt(0.2·0.8) = 0.4 for a, and CLIP's 0 rules d out.
	if got := texts(cs); !slices.Equal(got, []string{"b", "c", "a", "d"}) || math.Abs(cs[0].Score-0.6) > 1e-12 || cs[3].Score != 0 {
		t.Errorf("ranked by both: %v (%+v), want b c a d with b at 0.6", got, cs)
	}

	cs = []Candidate{{Text: "a", Decoder: -0.5}, {Text: "b", Decoder: -0.1}}
	if err := Rank(context.Background(), nil, cs); err != nil || !slices.Equal(texts(cs), []string{"b", "a"}) {
		t.Errorf("without judges: %v, %v; want the decoder's order b a", texts(cs), err)
	}
}

func TestRankRefusesBadScores(t *testing.T) {
	for _, tc := range []struct {
		name  string
		judge Scorer
		cands []Candidate
		want  string
	}{
		{"out of range", &fixedScorer{scores: map[string]float64{"a": 1.5}}, []Candidate{{Text: "a"}}, "not in [0, 1]"},
		{"NaN", &fixedScorer{scores: map[string]float64{"a": math.NaN()}}, []Candidate{{Text: "a"}}, "not in [0, 1]"},
		{"empty text", &fixedScorer{}, []Candidate{{Text: " "}}, "has no text"},
		{"too few scores", scorerFunc(func([]string) ([]float64, error) { return []float64{1}, nil }), []Candidate{{Text: "a"}, {Text: "b"}}, "1 scores for 2 candidates"},
		{"failing", scorerFunc(func([]string) ([]float64, error) { return nil, errors.New("boom") }), []Candidate{{Text: "a"}}, "rank by j: boom"},
	} {
		err := Rank(context.Background(), nil, tc.cands, Judge{"j", tc.judge})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}

type scorerFunc func(texts []string) ([]float64, error)

func (f scorerFunc) Match(_ context.Context, _ image.Image, texts []string) ([]float64, error) {
	return f(texts)
}

func texts(cs []Candidate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Text)
	}
	return out
}
