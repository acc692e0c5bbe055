package fidelity

import (
	"errors"
	"fmt"
	"image"

	"github.com/edged/edged/clip"
	clipspec "github.com/edged/edged/clip/spec"
)

// CLIPPair compares a float CLIP model with a full-int8 one: per frame the cosine of their
// image embeddings and, for every label set, whether their top-1 labels agree. Each model
// classifies with its own text tower, as it would run.
type CLIPPair struct {
	ref, cand       *clip.Model
	refCls, candCls []*clip.Classifier
}

// NewCLIPPair embeds the label sets' prompts with both models. The models stay the caller's.
func NewCLIPPair(ref, cand *clip.Model, sets []*clip.LabelSet) (*CLIPPair, error) {
	if ref.Dim() != cand.Dim() {
		return nil, fmt.Errorf("fidelity: the float model's embeddings are %d wide, the int8 model's %d", ref.Dim(), cand.Dim())
	}
	p := &CLIPPair{ref: ref, cand: cand}
	shared := sameTextTower(ref, cand)
	for _, s := range sets {
		cc, err := cand.Classifier(s)
		if err != nil {
			return nil, fmt.Errorf("fidelity: int8 model: %w", err)
		}
		rc := cc
		if !shared {
			if rc, err = ref.Classifier(s); err != nil {
				return nil, fmt.Errorf("fidelity: float model: %w", err)
			}
		}
		p.refCls, p.candCls = append(p.refCls, rc), append(p.candCls, cc)
	}
	return p, nil
}

// sameTextTower says whether both models' text towers are one file (a safe model and a
// full-int8 one of a checkpoint both write it at int8-dynamic): their label embeddings, and
// so their classifiers, are the same, and one classifier serves both without running or even
// loading the other text tower.
func sameTextTower(a, b *clip.Model) bool {
	fa, okA := a.Bundle.Manifest.File(clipspec.RoleTextTower)
	fb, okB := b.Bundle.Manifest.File(clipspec.RoleTextTower)
	return okA && okB && fa.SHA256 != "" && fa.SHA256 == fb.SHA256
}

// Compare embeds img with both models and classifies both embeddings with every label set.
func (p *CLIPPair) Compare(frame string, img image.Image, t *Tally) error {
	re, err := p.ref.EmbedImage(img)
	if err != nil {
		return fmt.Errorf("fidelity: float model: %s: %w", frame, err)
	}
	ce, err := p.cand.EmbedImage(img)
	if err != nil {
		return fmt.Errorf("fidelity: int8 model: %s: %w", frame, err)
	}
	return p.CompareEmbeddings(frame, re, ce, t)
}

// CompareEmbeddings adds to t what the embeddings of one frame by the float model (re) and
// the int8 one (ce) say: their cosine, and whether they get the same top-1 label of every
// label set. The daemon's shadow checks reuse the int8 embedding its labels came from.
func (p *CLIPPair) CompareEmbeddings(frame string, re, ce []float32, t *Tally) error {
	if len(re) != len(ce) {
		return fmt.Errorf("fidelity: %s: the embeddings are %d and %d wide", frame, len(re), len(ce))
	}
	t.AddCosine(cosine(re, ce))
	return p.CompareLabels(frame, re, ce, t)
}

// CompareLabels adds to t whether the float model's embedding re and the int8 one's ce of one
// frame get the same top-1 label of every label set, each from its own model's classifier:
// the gate of a text tower alone (package textcal) judges its label embeddings so.
func (p *CLIPPair) CompareLabels(frame string, re, ce []float32, t *Tally) error {
	for i, rc := range p.refCls {
		rs, err := rc.Classify(re)
		if err != nil {
			return err
		}
		cs, err := p.candCls[i].Classify(ce)
		if err != nil {
			return err
		}
		if len(rs) == 0 || len(cs) == 0 {
			return errors.New("fidelity: a classifier gave no scores")
		}
		t.AddTop1(rs[0].Label == cs[0].Label, frame, rc.LabelSet().Name, rs[0].Label, cs[0].Label)
	}
	return nil
}

// Close does nothing: the models are the caller's.
func (p *CLIPPair) Close() error { return nil }
