package fidelity

import (
	"errors"
	"fmt"
	"image"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/blip/spec"
)

// BLIPPair compares a float BLIP model with a full-int8 one of the same checkpoint: per frame
// the cosine of their vision outputs (the mean over the tokens of each token's cosine: the
// text models attend to every token), and on the first frames of a sample their greedy
// captions (captioning) or answers to the questions (VQA), which must be identical word for
// word. Retrieval models are compared on their vision outputs only.
type BLIPPair struct {
	ref, cand   *blip.Session
	hidden      int
	arch        string
	questions   []string
	gen         blip.GenerateOptions
	textFrames  int // frames whose captions or answers are compared
	textSampled int
}

// DefaultQuestions are what a VQA model is asked on the sampled frames when none are given:
// questions that have an answer in any scene.
var DefaultQuestions = []string{"what is in the picture?", "how many objects are there?", "what color is the background?"}

// DefaultTextFrames is how many frames get their captions or answers compared by default:
// greedy decoding is the slow part of the gate.
const DefaultTextFrames = 16

// NewBLIPPair opens a session of each model. questions (VQA; nil means DefaultQuestions) are
// asked on the first textFrames frames compared (0 means DefaultTextFrames, negative none).
func NewBLIPPair(ref, cand *blip.Model, questions []string, textFrames int) (*BLIPPair, error) {
	if ref.Architecture != cand.Architecture {
		return nil, fmt.Errorf("fidelity: the float model is a %s, the int8 model a %s", ref.Architecture, cand.Architecture)
	}
	hidden, err := ref.Bundle().Manifest.Int(spec.ValueVisionHidden)
	if err != nil {
		return nil, fmt.Errorf("fidelity: float model: %w", err)
	}
	if len(questions) == 0 {
		questions = DefaultQuestions
	}
	if textFrames == 0 {
		textFrames = DefaultTextFrames
	}
	p := &BLIPPair{hidden: hidden, arch: ref.Architecture, questions: questions, textFrames: textFrames, gen: ref.GenerateDefaults()}
	p.gen.NumBeams = 1
	if p.ref, err = ref.NewSession(); err != nil {
		return nil, fmt.Errorf("fidelity: float model: %w", err)
	}
	if p.cand, err = cand.NewSession(); err != nil {
		p.ref.Close()
		return nil, fmt.Errorf("fidelity: int8 model: %w", err)
	}
	return p, nil
}

// Compare encodes img with both models and, on the sampled frames, compares their captions or
// answers.
func (p *BLIPPair) Compare(frame string, img image.Image, t *Tally) error {
	ri, err := p.ref.EncodeImage(img)
	if err != nil {
		return fmt.Errorf("fidelity: float model: %s: %w", frame, err)
	}
	ci, err := p.cand.EncodeImage(img)
	if err != nil {
		return fmt.Errorf("fidelity: int8 model: %s: %w", frame, err)
	}
	c, err := tokenCosine(ri.Embeds(), ci.Embeds(), p.hidden)
	if err != nil {
		return fmt.Errorf("fidelity: %s: %w", frame, err)
	}
	t.AddCosine(c)
	if p.textSampled >= p.textFrames {
		return nil
	}
	p.textSampled++
	switch p.arch {
	case spec.ArchCaption:
		rc, err := p.ref.Caption(ri, "", p.gen)
		if err != nil {
			return fmt.Errorf("fidelity: float model: %s: %w", frame, err)
		}
		cc, err := p.cand.Caption(ci, "", p.gen)
		if err != nil {
			return fmt.Errorf("fidelity: int8 model: %s: %w", frame, err)
		}
		t.AddText(frame, "caption", rc, cc)
	case spec.ArchVQA:
		for _, q := range p.questions {
			ra, err := p.ref.Answer(ri, q, p.gen)
			if err != nil {
				return fmt.Errorf("fidelity: float model: %s: %w", frame, err)
			}
			ca, err := p.cand.Answer(ci, q, p.gen)
			if err != nil {
				return fmt.Errorf("fidelity: int8 model: %s: %w", frame, err)
			}
			t.AddText(frame, fmt.Sprintf("answer to %q", q), ra, ca)
		}
	}
	return nil
}

// Close frees both sessions.
func (p *BLIPPair) Close() error {
	return errors.Join(p.ref.Close(), p.cand.Close())
}

// tokenCosine is the mean over tokens of the cosine of a's and b's rows of width hidden.
func tokenCosine(a, b []float32, hidden int) (float64, error) {
	if len(a) != len(b) || hidden <= 0 || len(a)%hidden != 0 || len(a) == 0 {
		return 0, fmt.Errorf("vision outputs of %d and %d values do not make rows of %d", len(a), len(b), hidden)
	}
	var sum float64
	n := len(a) / hidden
	for i := 0; i < n; i++ {
		sum += cosine(a[i*hidden:(i+1)*hidden], b[i*hidden:(i+1)*hidden])
	}
	return sum / float64(n), nil
}

// BLIPText is a caption (Question "") or an answer a BLIP model gave on a frame, with what it
// was asked: another model of the checkpoint gives the same text for the same call.
type BLIPText struct {
	Question, Prompt string
	Options          blip.GenerateOptions
	Text             string
}

// CompareBLIPKept compares what a full-int8 BLIP model gave on a frame (its vision output and
// texts, kept when it ran) with what ref, a session of the safe model, gives on the frame's
// preprocessed pixels: the vision outputs' token cosine, and each text word for word.
func CompareBLIPKept(ref *blip.Session, hidden int, frame string, pixels, embeds []float32, texts []BLIPText, t *Tally) error {
	ri, err := ref.EncodePixels(pixels)
	if err != nil {
		return fmt.Errorf("fidelity: safe model: %s: %w", frame, err)
	}
	c, err := tokenCosine(ri.Embeds(), embeds, hidden)
	if err != nil {
		return fmt.Errorf("fidelity: %s: %w", frame, err)
	}
	t.AddCosine(c)
	for _, x := range texts {
		what, got := "caption", ""
		if x.Question != "" {
			what = fmt.Sprintf("answer to %q", x.Question)
			got, err = ref.Answer(ri, x.Question, x.Options)
		} else {
			got, err = ref.Caption(ri, x.Prompt, x.Options)
		}
		if err != nil {
			return fmt.Errorf("fidelity: safe model: %s: %w", frame, err)
		}
		t.AddText(frame, what, got, x.Text)
	}
	return nil
}
