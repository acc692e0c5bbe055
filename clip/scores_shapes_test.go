package clip

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/shapes"
)

// A label's score is the probability that the frame shows it, whatever set it is in: on
// held-out scenes of the shapes world (300 with one object, 300 with two, seeded; none a
// reference scene), each of the 15 labels as a set of its own scores above its threshold
// (0.5) on the scenes that show it and below on the others for at least 95% of the scenes
// (and at least 95% of all the shown labels are above it, of the others below);
// sets of 3 labels that a scene does not show score all three below the threshold on at
// least 95% of the scenes; and a label scores the same alone as in any set. The shapes CLIP
// carries its contrast (models/shapes/clip/edged_contrast.json: the 15 labels and their
// pairs).
func TestShapesLabelScoresAreProbabilities(t *testing.T) {
	one, err := shapes.HeldOut(2001, 300, 1)
	if err != nil {
		t.Fatal(err)
	}
	two, err := shapes.HeldOut(2002, 300, 2)
	if err != nil {
		t.Fatal(err)
	}
	scenes := append(one, two...)
	labels := shapes.Labels()
	for _, p := range []graph.Precision{graph.Int8Full, graph.FP32} {
		t.Run(p.String(), func(t *testing.T) {
			m := testModel(t, shapesModel, p)
			if got := m.contrastSetName(t); got != "the shapes world" {
				t.Fatalf("the shapes CLIP's contrast is %q, want its own", got)
			}
			alone := make([]*Classifier, len(labels))
			for i, l := range labels {
				set, err := NewLabelSet(l, []string{l}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if alone[i], err = m.Classifier(set); err != nil {
					t.Fatal(err)
				}
			}
			embeds := make([][]float32, len(scenes))
			for i, sc := range scenes {
				if embeds[i], err = m.EmbedImage(sc.Image); err != nil {
					t.Fatal(err)
				}
			}

			// Each label alone.
			type tally struct{ shown, shownRight, absent, absentRight int }
			per := make([]tally, len(labels))
			var byObjects [3]tally
			score := make([][]float64, len(scenes)) // scene × label, alone
			for i, sc := range scenes {
				score[i] = make([]float64, len(labels))
				for k, l := range labels {
					s, err := alone[k].Classify(embeds[i])
					if err != nil {
						t.Fatal(err)
					}
					score[i][k] = s[0].Score
					if s[0].Share != 1 {
						t.Fatalf("a set of one label has a share of %v", s[0].Share)
					}
					above := s[0].Score >= DefaultThreshold
					n := len(sc.Scene.Objects)
					if shows(sc.Scene, l) {
						per[k].shown++
						byObjects[n].shown++
						if above {
							per[k].shownRight++
							byObjects[n].shownRight++
						}
					} else {
						per[k].absent++
						byObjects[n].absent++
						if !above {
							per[k].absentRight++
							byObjects[n].absentRight++
						}
					}
				}
			}
			worst := 1.0
			for k, l := range labels {
				c := per[k]
				right := float64(c.shownRight+c.absentRight) / float64(len(scenes))
				worst = math.Min(worst, right)
				t.Logf("%-16s shown %3d/%3d above, not shown %3d/%3d below: %.3f of scenes right", l, c.shownRight, c.shown, c.absentRight, c.absent, right)
				if right < 0.95 {
					t.Errorf("%s alone: right on %.3f of the scenes, want at least 0.95", l, right)
				}
			}
			for n := 1; n <= 2; n++ {
				c := byObjects[n]
				t.Logf("%d-object scenes: shown labels above the threshold %d/%d = %.3f, others below %d/%d = %.3f",
					n, c.shownRight, c.shown, frac(c.shownRight, c.shown), c.absentRight, c.absent, frac(c.absentRight, c.absent))
			}
			t.Logf("worst label: right on %.3f of the scenes", worst)
			all := tally{byObjects[1].shown + byObjects[2].shown, byObjects[1].shownRight + byObjects[2].shownRight,
				byObjects[1].absent + byObjects[2].absent, byObjects[1].absentRight + byObjects[2].absentRight}
			if frac(all.shownRight, all.shown) < 0.95 || frac(all.absentRight, all.absent) < 0.95 {
				t.Errorf("shown labels above the threshold %d/%d, others below %d/%d: want at least 0.95 of each",
					all.shownRight, all.shown, all.absentRight, all.absent)
			}

			// Sets of three labels the scene does not show.
			rng := rand.New(rand.NewPCG(2003, 1))
			allBelow := 0
			for i, sc := range scenes {
				var absent []int
				for k, l := range labels {
					if !shows(sc.Scene, l) {
						absent = append(absent, k)
					}
				}
				rng.Shuffle(len(absent), func(a, b int) { absent[a], absent[b] = absent[b], absent[a] })
				pick := absent[:3]
				names := []string{labels[pick[0]], labels[pick[1]], labels[pick[2]]}
				set, err := NewLabelSet(fmt.Sprint("three ", i), names, nil)
				if err != nil {
					t.Fatal(err)
				}
				cls, err := m.Classifier(set)
				if err != nil {
					t.Fatal(err)
				}
				got, err := cls.Classify(embeds[i])
				if err != nil {
					t.Fatal(err)
				}
				below := true
				var shares float64
				for _, s := range got {
					k := slices.Index(labels, s.Label)
					if s.Score != score[i][k] {
						t.Fatalf("scene %d: %s scores %v in a set of three, %v alone", i, s.Label, s.Score, score[i][k])
					}
					below = below && s.Score < DefaultThreshold
					shares += s.Share
				}
				if math.Abs(shares-1) > 1e-9 {
					t.Fatalf("scene %d: the shares of a set add up to %v", i, shares)
				}
				if below {
					allBelow++
				}
			}
			t.Logf("sets of 3 labels not shown: all three below the threshold on %d/%d = %.3f of the scenes", allBelow, len(scenes), frac(allBelow, len(scenes)))
			if frac(allBelow, len(scenes)) < 0.95 {
				t.Errorf("sets of 3 labels not shown: all below the threshold on %.3f of the scenes, want at least 0.95", frac(allBelow, len(scenes)))
			}
		})
	}
}

// shows reports whether scene s shows label.
func shows(s shapes.Scene, label string) bool {
	return slices.ContainsFunc(s.Objects, func(o shapes.Object) bool { return o.Label() == label })
}

func frac(a, b int) float64 { return float64(a) / float64(b) }

// contrastSetName is the name of the contrast set the model's labels are told apart from.
func (m *Model) contrastSetName(t *testing.T) string {
	t.Helper()
	c, err := m.Contrast()
	if err != nil {
		t.Fatal(err)
	}
	return c.Set().Name
}
