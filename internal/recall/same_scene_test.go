package recall

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/internal/shapes"
)

// tilted returns the unit vector at angle deg from x towards y, two unit vectors orthogonal
// to each other: its cosine with x is cos(deg) exactly.
func tilted(x, y []float32, deg float64) []float32 {
	r := deg * math.Pi / 180
	out := make([]float32, len(x))
	for i := range out {
		out[i] = float32(math.Cos(r)*float64(x[i]) + math.Sin(r)*float64(y[i]))
	}
	return out
}

// Near-copies against known embeddings: on axes e0..e3, camera "a" holds scene A (e0) three
// times at cosine 0.99 and more with it, scene B (e1) twice, frame A' at cosine 0.94 with A
// (a different scene at this threshold), and a drift away from A': D1 at 0.98 with A', D2 at
// 0.98 with D1 but 0.92 with A'. D1 is a copy of A'; D2 is not, and must not chain into A'
// through D1. Camera "b" holds a frame identical to A: never folded across cameras.
func TestSearchFoldsNearCopies(t *testing.T) {
	const dim = 6
	axis := func(i int) []float32 {
		v := make([]float32, dim)
		v[i] = 1
		return v
	}
	e0, e1, e2, e3 := axis(0), axis(1), axis(2), axis(3)
	deg := func(cos float64) float64 { return math.Acos(cos) * 180 / math.Pi }
	a2 := tilted(e0, e2, deg(0.94))             // A': 0.94 with A
	d1 := tilted(e0, e2, deg(0.94)+deg(0.98))   // 0.98 with A'
	d2 := tilted(e0, e2, deg(0.94)+2*deg(0.98)) // 0.98 with D1, 0.92 with A'
	frames := []struct {
		camera string
		emb    []float32
		name   string
	}{
		{"a", e0, "A"},
		{"a", tilted(e0, e3, deg(0.995)), "A"},
		{"a", tilted(e0, e3, deg(0.99)), "A"},
		{"a", e1, "B"},
		{"a", tilted(e1, e3, deg(0.999)), "B"},
		{"a", a2, "A'"},
		{"a", d1, "D1"},
		{"a", d2, "D2"},
		{"b", e0, "A on b"},
	}
	clk := newClock()
	s := newStore(t, Options{Now: clk.Now})
	name := map[uint64]string{}
	for i, f := range frames {
		seq := uint64(i + 1)
		name[seq] = f.name
		if err := s.Add(Frame{Camera: f.camera, Seq: seq, Time: clk.Advance(time.Second), Image: solid(8, 8), Embedding: f.emb}); err != nil {
			t.Fatal(err)
		}
	}
	// The query ranks A first, then A', D1, D2, and B last.
	query := []float32{1, 0.02, 0.1, 0.05, 0, 0}
	all, err := s.Search(context.Background(), Query{Embedding: query, K: 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(frames) {
		t.Fatalf("without SameScene: %d hits, want every one of the %d frames", len(all), len(frames))
	}
	hits, err := s.Search(context.Background(), Query{Embedding: query, K: 20, SameScene: DefaultSameScene})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	similar := map[string]int{}
	for _, h := range hits {
		n := name[h.Seq]
		if h.Camera == "b" {
			n = "A on b"
		}
		got = append(got, n)
		similar[n] = h.Similar
	}
	// Kept: the best frame of each group, in the order of the plain ranking.
	want := map[string]int{"A": 2, "A'": 1, "D2": 0, "B": 1, "A on b": 0}
	if len(hits) != len(want) {
		t.Fatalf("hits %v, want one each of %v", got, want)
	}
	for n, w := range want {
		if s, ok := similar[n]; !ok || s != w {
			t.Errorf("hit %s: %d similar (present %v), want %d; hits %v", n, s, ok, w, got)
		}
	}
	for i := 1; i < len(hits); i++ {
		if hits[i].Score > hits[i-1].Score {
			t.Fatalf("hits out of order: %v", got)
		}
	}

	// k bounds the groups, not the frames: the copies of the kept frames are still counted.
	top, err := s.Search(context.Background(), Query{Embedding: query, Camera: "a", K: 1, SameScene: DefaultSameScene})
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 1 || name[top[0].Seq] != "A" || top[0].Similar != 2 {
		t.Fatalf("k 1 on camera a: %d hits, the first %s with %d similar; want frame A with 2 similar", len(top), name[top[0].Seq], top[0].Similar)
	}

	for _, bad := range []float64{-0.1, 1.5, math.NaN()} {
		_, err := s.Search(context.Background(), Query{Embedding: query, K: 3, SameScene: bad})
		if err == nil || !strings.Contains(err.Error(), "same-scene similarity") {
			t.Errorf("SameScene %v: error %v, want one naming the same-scene similarity", bad, err)
		}
	}
}

// Near-copies with the real shapes CLIP: a camera that holds each of 30 scenes for four
// frames, each frame under fresh sensor noise and colour jitter as a real camera's are.
// Folded, every hit is another scene, and counts the other three frames of its scene;
// unfolded, the best hits are mostly copies of the same few scenes.
func TestSearchFoldsNearCopiesWithRealCLIP(t *testing.T) {
	m, labels, pairs := shapesCLIP(t)
	const scenes, framesPerScene = 30, 4
	rng := rand.New(rand.NewPCG(5, 2026))
	s := newStore(t, Options{})
	sceneOf := map[uint64]int{}
	var truth []shapes.Scene
	seq := uint64(0)
	for i := range scenes {
		sc := shapes.Random(rng)
		truth = append(truth, sc)
		for range framesPerScene {
			img, err := shapes.Render(sc.Jittered(rng, 5), 320, 240, shapes.Options{Noise: 6, Rand: rng})
			if err != nil {
				t.Fatal(err)
			}
			emb, err := m.EmbedImage(img)
			if err != nil {
				t.Fatal(err)
			}
			seq++
			sceneOf[seq] = i
			if err := s.Add(Frame{Camera: "synthetic", Seq: seq, Time: time.Now(), Image: img, Embedding: emb}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, label := range shownLabels(truth)[:4] {
		emb, err := m.EmbedText("a " + label)
		if err != nil {
			t.Fatal(err)
		}
		q := Query{Text: "a " + label, Embedding: emb, Contrast: labels, Pairs: pairs, LogitScale: float64(m.LogitScale()), K: 5}
		plain, err := s.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		q.SameScene = DefaultSameScene
		folded, err := s.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if folded[0].Seq != plain[0].Seq {
			t.Errorf("%s: the best hit is frame %d folded, %d plain; folding must keep the best", label, folded[0].Seq, plain[0].Seq)
		}
		seen := map[int]bool{}
		for _, h := range folded {
			sc := sceneOf[h.Seq]
			if seen[sc] {
				t.Errorf("%s: scene %d is shown twice (frame %d)", label, sc, h.Seq)
			}
			seen[sc] = true
			if h.Similar != framesPerScene-1 {
				t.Errorf("%s: frame %d of scene %d counts %d similar frames, want the scene's other %d", label, h.Seq, sc, h.Similar, framesPerScene-1)
			}
		}
		plainScenes := map[int]bool{}
		for _, h := range plain {
			plainScenes[sceneOf[h.Seq]] = true
		}
		t.Logf("%s: the 5 best frames show %d scenes; folded, 5 scenes", label, len(plainScenes))
	}
}
