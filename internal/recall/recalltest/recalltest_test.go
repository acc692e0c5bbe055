package recalltest

import (
	"math"
	"testing"

	"github.com/edged/edged/internal/shapes"
)

// The fixture must reproduce transformers: zero-shot probabilities recomputed from the stored
// embeddings and logit scale match the recorded ones, and every embedding is unit length.
func TestFixtureMatchesTransformers(t *testing.T) {
	ref, err := Shapes()
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) != 24 || len(ref.Labels) != 15 {
		t.Fatalf("%d cases, %d labels; want 24 and 15", len(ref.Cases), len(ref.Labels))
	}
	for i, l := range shapes.Labels() {
		if ref.Labels[i] != l {
			t.Fatalf("label %d is %q, shapes.Labels() has %q", i, ref.Labels[i], l)
		}
	}
	for _, e := range append(ref.LabelEmbeddings, ref.Cases[0].Embedding) {
		var ss float64
		for _, x := range e {
			ss += float64(x) * float64(x)
		}
		if math.Abs(ss-1) > 1e-5 {
			t.Fatalf("embedding has squared norm %v, want 1", ss)
		}
	}
	for _, c := range ref.Cases {
		if err := validTruth(c.Scene); err != nil {
			t.Errorf("case %d: %v", c.Index, err)
		}
		scores := ref.ZeroShot(c.Embedding)
		if scores[0].Label != c.CLIPTop1 {
			t.Errorf("case %d: top-1 %q, transformers said %q", c.Index, scores[0].Label, c.CLIPTop1)
		}
		for _, s := range scores {
			want := c.CLIPProbs[indexOf(ref.Labels, s.Label)]
			if math.Abs(s.Score-want) > 2e-4 { // the reference rounds to 6 decimals
				t.Errorf("case %d %s: probability %.6f, transformers %.6f", c.Index, s.Label, s.Score, want)
			}
		}
		if c.Image.Bounds().Dx() > 160 || len(c.JPEG) == 0 {
			t.Errorf("case %d: image %v, %d JPEG bytes", c.Index, c.Image.Bounds(), len(c.JPEG))
		}
	}
	if _, ok := ref.LabelEmbedding("A photo of a Red Circle "); !ok {
		t.Error("prompt form of a label not found")
	}
	if _, ok := ref.LabelEmbedding("a dog"); ok {
		t.Error("a text that is no label has an embedding")
	}
}

func validTruth(s shapes.Scene) error {
	// Positions are not recorded: give (a copy of) the objects legal ones, then validate.
	s.Objects = append([]shapes.Object(nil), s.Objects...)
	for i := range s.Objects {
		s.Objects[i].X, s.Objects[i].Y, s.Objects[i].Size = 0.3+0.4*float64(i), 0.5, 0.15
	}
	return s.Validate()
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}
