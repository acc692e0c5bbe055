package recall

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/edged/edged/clip"
	"github.com/edged/edged/convert"
	"github.com/edged/edged/shapes"
)

// shapesCLIP loads the shipped shapes CLIP (converted into a temporary cache) with the
// shapes label set.
func shapesCLIP(t *testing.T) (*clip.Model, [][]float32) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real CLIP model")
	}
	b, err := convert.Open("../models/shapes/clip", t.TempDir(), "", convert.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := clip.Load(b, clip.Options{RunOptions: clip.RunOptions{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	set, err := clip.LoadLabelSet("../configs/labels/shapes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	labels, err := m.LabelEmbeddings(set)
	if err != nil {
		t.Fatal(err)
	}
	return m, labels
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
// world: for each "a <colour> <shape>" query whose object some frame shows, how often the
// best hit shows it. Scoring against the label set as contrast texts is the daemon's way;
// bare cosine is logged beside it. Failures are the cases where the object appears only
// beside another one and a lone object sharing its colour or shape wins: CLIP's single
// embedding does not bind colours to shapes (ITM re-ranking is the remedy).
func TestSearchQualityWithRealCLIP(t *testing.T) {
	m, labels := shapesCLIP(t)
	const rings, scenesPerRing = 6, 40
	var byContrast, byCosine, asked int
	for ring := range rings {
		rng := rand.New(rand.NewPCG(uint64(ring), 2024))
		s := newStore(t, Options{})
		var truth []shapes.Scene
		for i := range scenesPerRing {
			sc := shapes.Random(rng)
			img, err := shapes.Render(sc, 320, 240, shapes.Options{})
			if err != nil {
				t.Fatal(err)
			}
			emb, err := m.EmbedImage(img)
			if err != nil {
				t.Fatal(err)
			}
			truth = append(truth, sc)
			if err := s.Add(Frame{Camera: "synthetic", Seq: uint64(i + 1), Time: time.Now(), Image: img, Embedding: emb, Scene: &truth[i]}); err != nil {
				t.Fatal(err)
			}
		}
		for _, label := range shapes.Labels() {
			present := false
			for i := range truth {
				present = present || showsLabel(&truth[i], label)
			}
			if !present {
				continue
			}
			asked++
			emb, err := m.EmbedText("a " + label)
			if err != nil {
				t.Fatal(err)
			}
			q := Query{Text: "a " + label, Embedding: emb, K: 1}
			hits, err := s.Search(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if showsLabel(hits[0].Scene, label) {
				byCosine++
			}
			q.Contrast, q.LogitScale = labels, float64(m.LogitScale())
			if hits, err = s.Search(context.Background(), q); err != nil {
				t.Fatal(err)
			}
			if showsLabel(hits[0].Scene, label) {
				byContrast++
			} else {
				t.Logf("ring %d: %q found frame %d showing %v (p %.3f)", ring, q.Text, hits[0].Seq, hits[0].Scene.Objects, hits[0].Score)
			}
		}
	}
	t.Logf("best hit shows the object: %d of %d queries against the labels, %d by bare cosine", byContrast, asked, byCosine)
	if float64(byContrast) < 0.9*float64(asked) {
		t.Fatalf("search found the object for only %d of %d queries", byContrast, asked)
	}
}
