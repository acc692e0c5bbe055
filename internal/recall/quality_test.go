package recall

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/shapes"
	"github.com/edged/edged/models"
)

// shapesCLIP loads the shipped shapes CLIP (converted into a temporary cache) with the
// shapes label set's embeddings and its pairs'.
func shapesCLIP(t *testing.T) (*clip.Model, [][]float32, []Pair) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real CLIP model")
	}
	b, err := models.Open(context.Background(), "../../models/shapes/clip", models.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := clip.Load(b, clip.Options{RunOptions: clip.RunOptions{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	set, err := clip.LoadLabelSet("../../configs/labels/shapes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	labels, err := m.LabelEmbeddings(set)
	if err != nil {
		t.Fatal(err)
	}
	pairSet, idx := set.PairSet()
	if pairSet == nil {
		t.Fatal("the shapes label set has no pairs")
	}
	pairEmbs, err := m.LabelEmbeddings(pairSet)
	if err != nil {
		t.Fatal(err)
	}
	return m, labels, NewPairs(pairEmbs, idx)
}

// fillRing renders n scenes at the synthetic camera's 320x240 (noisy: with the training's
// colour jitter and noise) and adds them to every store with their CLIP embeddings; it
// returns their truth.
func fillRing(t *testing.T, m *clip.Model, rng *rand.Rand, n int, noisy bool, stores ...*Store) []shapes.Scene {
	t.Helper()
	truth := make([]shapes.Scene, n)
	for i := range truth {
		sc, opts := shapes.Random(rng), shapes.Options{}
		if noisy {
			sc = sc.Jittered(rng, 15)
			opts = shapes.Options{Noise: 6 * rng.Float64(), Rand: rng}
		}
		img, err := shapes.Render(sc, 320, 240, opts)
		if err != nil {
			t.Fatal(err)
		}
		emb, err := m.EmbedImage(img)
		if err != nil {
			t.Fatal(err)
		}
		truth[i] = sc
		for _, s := range stores {
			if err := s.Add(Frame{Camera: "synthetic", Seq: uint64(i + 1), Time: time.Now(), Image: img, Embedding: emb}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return truth
}

// shownLabels are the labels some scene of truth shows.
func shownLabels(truth []shapes.Scene) []string {
	var out []string
	for _, label := range shapes.Labels() {
		for i := range truth {
			if showsLabel(&truth[i], label) {
				out = append(out, label)
				break
			}
		}
	}
	return out
}

func showsLabel(s *shapes.Scene, label string) bool {
	for _, o := range s.Objects {
		if o.Label() == label {
			return true
		}
	}
	return false
}

// Search quality with the real (int8) shapes CLIP on rings of scenes from the synthetic
// world (a third show two objects): for each "a <colour> <shape>" query whose object some
// frame shows, does the best hit show it? The daemon's way scores a frame by the probability
// CLIP gives to the texts that show the query's object, alone or beside another, against
// every label and pair of labels. Bare cosine and the labels without pairs are logged beside
// it: they lose where the object appears only beside another and a lone object sharing its
// colour or shape wins, since one embedding of the picture does not bind colours to shapes.
//
// Tolerance: 98% of the queries. The ranking can be no better than CLIP's reading of each
// frame, and this small model errs (0.996 top-1 on single objects in transformers, less
// beside another object); measured here: 289 of 290, the miss a frame CLIP reads as a blue
// square that shows a blue circle.
func TestSearchQualityWithRealCLIP(t *testing.T) {
	m, labels, pairs := shapesCLIP(t)
	const rings, scenesPerRing = 20, 40
	var byPairs, byLabels, byCosine, asked int
	for ring := range rings {
		rng := rand.New(rand.NewPCG(uint64(ring), 2024))
		s := newStore(t, Options{})
		truth := fillRing(t, m, rng, scenesPerRing, false, s)
		for _, label := range shownLabels(truth) {
			asked++
			emb, err := m.EmbedText("a " + label)
			if err != nil {
				t.Fatal(err)
			}
			found := func(q Query) (bool, Hit) {
				t.Helper()
				hits, err := s.Search(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				return showsLabel(&truth[hits[0].Seq-1], label), hits[0]
			}
			q := Query{Text: "a " + label, Embedding: emb, K: 1}
			if ok, _ := found(q); ok {
				byCosine++
			}
			q.Contrast, q.LogitScale = labels, float64(m.LogitScale())
			if ok, _ := found(q); ok {
				byLabels++
			}
			q.Pairs = pairs
			if ok, hit := found(q); ok {
				byPairs++
			} else {
				t.Logf("ring %d: %q found frame %d showing %v (p %.3f)", ring, q.Text, hit.Seq, truth[hit.Seq-1].Objects, hit.Score)
			}
		}
	}
	t.Logf("best hit shows the object: %d of %d queries against labels and pairs, %d against the labels alone, %d by bare cosine",
		byPairs, asked, byLabels, byCosine)
	if float64(byPairs) < 0.98*float64(asked) {
		t.Fatalf("search found the object for only %d of %d queries", byPairs, asked)
	}
}
