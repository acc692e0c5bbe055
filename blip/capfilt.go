package blip

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// CapFilt at inference: BLIP's captioner proposes several captions of a picture and a filter
// (BLIP's own image-text matching, CLIP, or both) ranks them, so that the caption published is
// the one that matches the picture best rather than the decoder's likeliest. The candidates
// share the picture's cross-attention keys and values, computed once; each costs its decoder
// steps and one score per judge.

// Candidate is one proposed caption of a picture.
type Candidate struct {
	// Text is the caption as decode(skip_special_tokens=True) gives it; IDs its tokens from
	// [DEC] (or the prompt) on.
	Text string
	IDs  []int32
	// From says how it was made: "greedy", "beam" (a finished hypothesis of a beam search) or
	// "sample" (nucleus sampling).
	From string
	// Decoder is the decoder's own score: the log-probability of the generated tokens divided
	// by their number to the length penalty's power, as beam search ranks hypotheses.
	Decoder float64
	// Scores are each judge's score in [0, 1], by judge name ("itm", "clip").
	Scores map[string]float64
	// Score is what Rank orders by: the geometric mean of Scores. Zero until ranked.
	Score float64
}

// Candidate sources.
const (
	FromGreedy = "greedy"
	FromBeam   = "beam"
	FromSample = "sample"
)

// CandidateOptions say how the candidates of a picture are made: the finished hypotheses of
// a beam search Beams wide (1: the greedy caption alone) and Samples nucleus samples. The
// same picture, options and Seed give the same candidates.
type CandidateOptions struct {
	Beams   int
	Samples int
	Sample  SampleOptions
	Seed    uint64
}

func (co CandidateOptions) check() error {
	switch {
	case co.Beams < 0 || co.Samples < 0:
		return fmt.Errorf("candidates: %d beams and %d samples must not be negative", co.Beams, co.Samples)
	case co.Beams+co.Samples == 0:
		return errors.New("candidates: neither beams nor samples asked for")
	}
	if co.Samples > 0 {
		return co.Sample.check()
	}
	return nil
}

// CaptionCandidateIDs makes the candidate captions of im (see CandidateOptions), each once:
// the beam search's hypotheses best first, then the samples in the order drawn, a sequence
// already proposed left out. prompt and o are as for CaptionIDs (o.NumBeams is ignored).
func (s *Session) CaptionCandidateIDs(im *Image, prompt []int32, o GenerateOptions, co CandidateOptions) ([]Candidate, error) {
	if err := co.check(); err != nil {
		return nil, fmt.Errorf("blip: %w", err)
	}
	start, err := s.captionStart(im, prompt)
	if err != nil {
		return nil, err
	}
	var out []Candidate
	seen := map[string]bool{}
	add := func(from string, hs []hypothesis) {
		for _, h := range hs {
			if k := fmt.Sprint(h.seq); !seen[k] {
				seen[k] = true
				out = append(out, Candidate{IDs: h.seq, From: from, Decoder: float64(h.score)})
			}
		}
	}
	if co.Beams > 0 {
		o.NumBeams = co.Beams
		if err := o.check(len(start)); err != nil {
			return nil, fmt.Errorf("blip: %w", err)
		}
		if err := checkCapacity(s.dec, len(start), o); err != nil {
			return nil, fmt.Errorf("blip: %w", err)
		}
		hs, err := search(s.dec, start, s.m.sep, o)
		if err != nil {
			return nil, err
		}
		from := FromBeam
		if co.Beams == 1 {
			from = FromGreedy
		}
		add(from, hs)
	}
	if co.Samples > 0 {
		rng := rand.New(rand.NewPCG(co.Seed, 0x9e3779b97f4a7c15))
		hs, err := sample(s.dec, start, s.m.sep, o, co.Sample, co.Samples, rng)
		if err != nil {
			return nil, fmt.Errorf("blip: %w", err)
		}
		add(FromSample, hs)
	}
	return out, nil
}

// CaptionCandidates is CaptionCandidateIDs with text: the prompt as Caption takes it, and
// each candidate decoded; candidates that decode to a text already proposed are left out.
func (s *Session) CaptionCandidates(im *Image, prompt string, o GenerateOptions, co CandidateOptions) ([]Candidate, error) {
	tok, err := s.m.Tokenizer()
	if err != nil {
		return nil, err
	}
	var ids []int32
	if strings.TrimSpace(prompt) != "" {
		ids = tok.Encode(prompt)
	}
	cands, err := s.CaptionCandidateIDs(im, ids, o, co)
	if err != nil {
		return nil, err
	}
	out := cands[:0]
	seen := map[string]bool{}
	for _, c := range cands {
		c.Text = tok.Decode(c.IDs)
		if !seen[c.Text] {
			seen[c.Text] = true
			out = append(out, c)
		}
	}
	return out, nil
}

// Scorer scores texts against a picture: one value in [0, 1] per text, in order, higher for
// a better match. confirm.BLIPMatcher (BLIP's ITM probability) and clip.Model.MatchTexts
// (CLIP's probability over the texts) are the two edged has.
type Scorer interface {
	Match(ctx context.Context, img image.Image, texts []string) ([]float64, error)
}

// Judge is a Scorer with the name its scores go under.
type Judge struct {
	Name   string
	Scorer Scorer
}

// Rank scores every candidate's text against img with each judge and sorts the candidates
// best first by the geometric mean of their scores (one judge's zero rules a candidate out
// whatever the others say); equal scores keep the decoder's order. Without judges the
// candidates are sorted by the decoder's score.
func Rank(ctx context.Context, img image.Image, cands []Candidate, judges ...Judge) error {
	if len(cands) == 0 {
		return nil
	}
	texts := make([]string, len(cands))
	for i, c := range cands {
		if strings.TrimSpace(c.Text) == "" {
			return fmt.Errorf("blip: rank: candidate %d has no text", i)
		}
		texts[i] = c.Text
	}
	for i := range cands {
		cands[i].Scores = map[string]float64{}
	}
	for _, j := range judges {
		scores, err := j.Scorer.Match(ctx, img, texts)
		if err != nil {
			return fmt.Errorf("blip: rank by %s: %w", j.Name, err)
		}
		if len(scores) != len(cands) {
			return fmt.Errorf("blip: rank by %s: %d scores for %d candidates", j.Name, len(scores), len(cands))
		}
		for i, s := range scores {
			if !(s >= 0 && s <= 1) {
				return fmt.Errorf("blip: rank by %s: score %v of %q is not in [0, 1]", j.Name, s, texts[i])
			}
			cands[i].Scores[j.Name] = s
		}
	}
	if len(judges) > 0 {
		for i := range cands {
			product := 1.0
			for _, s := range cands[i].Scores {
				product *= s
			}
			cands[i].Score = math.Pow(product, 1/float64(len(judges)))
		}
	}
	slices.SortStableFunc(cands, func(a, b Candidate) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(b.Decoder, a.Decoder)
	})
	return nil
}
