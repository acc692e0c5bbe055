package recall

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/internal/recall/recalltest"
	"github.com/edged/edged/internal/testutil"
)

// bruteForce is the search written the obvious way, independently of the store: normalise,
// take every cosine, sort.
type bruteFrame struct {
	camera string
	seq    uint64
	time   time.Time
	emb    []float32
}

func bruteForce(frames []bruteFrame, query []float32, camera string, k int) []Hit {
	norm := func(v []float32) []float64 {
		var ss float64
		for _, x := range v {
			ss += float64(x) * float64(x)
		}
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x) / math.Sqrt(ss)
		}
		return out
	}
	q := norm(query)
	var hits []Hit
	for _, f := range frames {
		if camera != "" && f.camera != camera {
			continue
		}
		e := norm(f.emb)
		var c float64
		for i := range q {
			c += q[i] * e[i]
		}
		hits = append(hits, Hit{Camera: f.camera, Seq: f.seq, Time: f.time, Cosine: c})
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].Cosine > hits[j].Cosine })
	return hits[:min(k, len(hits))]
}

func TestSearchMatchesBruteForce(t *testing.T) {
	for _, dim := range []int{48, 512} {
		t.Run(fmt.Sprint(dim), func(t *testing.T) {
			clk := newClock()
			s := newStore(t, Options{MaxFrames: 1000, Now: clk.Now})
			rng := rand.New(rand.NewPCG(uint64(dim), 7))
			var frames []bruteFrame
			cams := []string{"a", "b", "c"}
			for i := range 300 {
				f := bruteFrame{camera: cams[rng.IntN(3)], seq: uint64(i + 1), time: clk.Advance(time.Second), emb: randomUnit(rng, dim)}
				// Not normalised on the way in: the store must do it.
				for j := range f.emb {
					f.emb[j] *= 3.5
				}
				frames = append(frames, f)
				if err := s.Add(Frame{Camera: f.camera, Seq: f.seq, Time: f.time, Image: solid(8, 8), Embedding: f.emb}); err != nil {
					t.Fatal(err)
				}
			}
			for trial := range 20 {
				query := randomUnit(rng, dim)
				camera := []string{"", "a", "b", "c", "nobody"}[trial%5]
				k := []int{1, 5, 17, 400}[trial%4]
				got, err := s.Search(context.Background(), Query{Embedding: query, Camera: camera, K: k})
				if err != nil {
					t.Fatal(err)
				}
				want := bruteForce(frames, query, camera, k)
				if len(got) != len(want) {
					t.Fatalf("camera %q k %d: %d hits, brute force %d", camera, k, len(got), len(want))
				}
				for i := range want {
					g, w := got[i], want[i]
					if g.Camera != w.Camera || g.Seq != w.Seq || !g.Time.Equal(w.Time) || math.Abs(g.Cosine-w.Cosine) > 1e-6 || g.Score != g.Cosine || g.Reranked {
						t.Fatalf("camera %q k %d hit %d: %+v, brute force %+v", camera, k, i, g, w)
					}
					if len(g.Thumbnail) == 0 {
						t.Fatalf("hit %d has no thumbnail", i)
					}
				}
			}
		})
	}
}

func TestSearchTiesPreferNewerFrames(t *testing.T) {
	clk := newClock()
	s := newStore(t, Options{Now: clk.Now})
	for seq := uint64(1); seq <= 4; seq++ {
		if err := s.Add(Frame{Camera: "c", Seq: seq, Time: clk.Advance(time.Second), Image: solid(8, 8), Embedding: []float32{1, 1}}); err != nil {
			t.Fatal(err)
		}
	}
	hits, err := s.Search(context.Background(), Query{Embedding: []float32{1, 0}, K: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hits {
		if h.Seq != uint64(4-i) {
			t.Fatalf("hit %d is frame %d; equal scores should come newest first", i, h.Seq)
		}
	}
}

func TestSearchErrors(t *testing.T) {
	s := newStore(t, Options{})
	ctx := context.Background()
	if hits, err := s.Search(ctx, Query{Embedding: []float32{1, 0, 0}, K: 3}); err != nil || len(hits) != 0 {
		t.Fatalf("empty store: %v, %v; want no hits and no error", hits, err)
	}
	if err := s.Add(Frame{Camera: "c", Seq: 1, Time: time.Now(), Image: solid(8, 8), Embedding: []float32{1, 0, 0}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		q    Query
		want string
	}{
		{Query{Embedding: []float32{1, 0, 0}, K: 0}, "k is 0"},
		{Query{Embedding: []float32{1, 0, 0}, K: -2}, "k is -2"},
		{Query{Embedding: nil, K: 1}, "query embedding is empty"},
		{Query{Embedding: []float32{0, 0, 0}, K: 1}, "query embedding is all zeros"},
		{Query{Embedding: []float32{1, 0}, K: 1}, "query embedding has 2 values, the frames' have 3"},
	}
	for _, tt := range tests {
		_, err := s.Search(ctx, tt.q)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want %q", tt.q, err, tt.want)
		}
	}
}

// With transformers' real CLIP embeddings of the 24 reference scenes in the ring, the text
// query of each of the 15 labels, contrasted with the other labels, finds as its best hit a
// scene that shows that object whenever one of the scenes does. Bare cosine does not: in a
// scene of two objects neither dominates the embedding, and a lone object sharing the query's
// colour or shape wins (the test logs how often).
func TestSearchRealEmbeddings(t *testing.T) {
	ref, err := recalltest.Shapes()
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	s := newStore(t, Options{Now: clk.Now})
	for _, c := range ref.Cases {
		note := map[string]string{"case": strconv.Itoa(c.Index)}
		if err := s.Add(Frame{Camera: "shapes", Seq: uint64(c.Index + 1), Time: clk.Advance(time.Second), Image: c.Image, Embedding: c.Embedding, Annotations: note}); err != nil {
			t.Fatal(err)
		}
	}
	present, cosineRight := 0, 0
	for _, label := range ref.Labels {
		emb, _ := ref.LabelEmbedding(label)
		q := Query{Text: "a photo of a " + label, Embedding: emb, K: 3}
		byCosine, err := s.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		q.Contrast, q.LogitScale = ref.LabelEmbeddings, ref.LogitScale // includes the query: skipped
		hits, err := s.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		anyHas := false
		for _, c := range ref.Cases {
			anyHas = anyHas || c.Has(label)
		}
		top := ref.Cases[hits[0].Seq-1]
		t.Logf("%-16s best frame %2d %v p=%.3f (by cosine alone: frame %2d); present in the ring: %v",
			label, hits[0].Seq, top.Scene.Objects, hits[0].Score, byCosine[0].Seq, anyHas)
		if got := hits[0].Annotations["case"]; got != strconv.Itoa(top.Index) {
			t.Fatalf("hit on frame %d carries the annotations of case %q, want %d", hits[0].Seq, got, top.Index)
		}
		if anyHas {
			present++
			if !top.Has(label) {
				t.Errorf("query %q: best hit is frame %d showing %v", label, hits[0].Seq, top.Scene.Objects)
			}
			if ref.Cases[byCosine[0].Seq-1].Has(label) {
				cosineRight++
			}
		}
	}
	t.Logf("best hit shows the object: %d of %d with contrast, %d by cosine alone", present, present, cosineRight)
	if present < 12 {
		t.Fatalf("only %d labels appear in the reference scenes; the test proves little", present)
	}
}

func TestSearchWithContrastMatchesBruteForce(t *testing.T) {
	clk := newClock()
	s := newStore(t, Options{Now: clk.Now})
	rng := rand.New(rand.NewPCG(31, 32))
	const dim = 64
	var frames []bruteFrame
	for i := range 200 {
		f := bruteFrame{camera: []string{"a", "b"}[i%2], seq: uint64(i/2 + 1), time: clk.Advance(time.Second), emb: randomUnit(rng, dim)}
		frames = append(frames, f)
		if err := s.Add(Frame{Camera: f.camera, Seq: f.seq, Time: f.time, Image: solid(8, 8), Embedding: f.emb}); err != nil {
			t.Fatal(err)
		}
	}
	contrast := make([][]float32, 10)
	for i := range contrast {
		contrast[i] = randomUnit(rng, dim)
	}
	const scale = 30.0
	query := randomUnit(rng, dim)
	got, err := s.Search(context.Background(), Query{Embedding: query, Contrast: contrast, LogitScale: scale, K: 200})
	if err != nil {
		t.Fatal(err)
	}
	// The obvious way: softmax over [query, contrast...] of scale × cosine, per frame.
	want, wantCos := map[[2]any]float64{}, map[[2]any]float64{}
	for _, f := range frames {
		wantCos[[2]any{f.camera, f.seq}] = testutil.Cosine(query, f.emb)
		logits := []float64{scale * testutil.Cosine(query, f.emb)}
		for _, c := range contrast {
			logits = append(logits, scale*testutil.Cosine(c, f.emb))
		}
		var sum float64
		for _, l := range logits {
			sum += math.Exp(l)
		}
		want[[2]any{f.camera, f.seq}] = math.Exp(logits[0]) / sum
	}
	if len(got) != len(frames) {
		t.Fatalf("%d hits for %d frames", len(got), len(frames))
	}
	for i, h := range got {
		if w := want[[2]any{h.Camera, h.Seq}]; math.Abs(h.Score-w) > 1e-6 { // float32 embeddings
			t.Fatalf("hit %d (%s %d): probability %v, brute force %v", i, h.Camera, h.Seq, h.Score, w)
		}
		if w := wantCos[[2]any{h.Camera, h.Seq}]; math.Abs(h.Cosine-w) > 1e-6 { // Cosine stays the bare cosine
			t.Fatalf("hit %d: cosine %v, brute force %v", i, h.Cosine, w)
		}
		if i > 0 && h.Score > got[i-1].Score {
			t.Fatalf("hit %d scores %v, above hit %d's %v", i, h.Score, i-1, got[i-1].Score)
		}
	}
	// The query among its own contrast texts is not counted twice.
	dup, err := s.Search(context.Background(), Query{Embedding: query, Contrast: append([][]float32{query}, contrast...), LogitScale: scale, K: 200})
	if err != nil {
		t.Fatal(err)
	}
	for i := range dup {
		if dup[i].Seq != got[i].Seq || math.Abs(dup[i].Score-got[i].Score) > 1e-12 {
			t.Fatalf("with the query in its contrast set, hit %d differs: %+v vs %+v", i, dup[i], got[i])
		}
	}
	for _, tt := range []struct {
		q    Query
		want string
	}{
		{Query{Embedding: query, Contrast: contrast, K: 1}, "logit scale is 0"},
		{Query{Embedding: query, Contrast: contrast, LogitScale: math.Inf(1), K: 1}, "logit scale is +Inf"},
		{Query{Embedding: query, Contrast: [][]float32{{1, 2}}, LogitScale: 10, K: 1}, "contrast embedding 0 has 2 values, the query 64"},
		{Query{Embedding: query, Contrast: [][]float32{contrast[0], make([]float32, dim)}, LogitScale: 10, K: 1}, "contrast embedding 1 is all zeros"},
	} {
		if _, err := s.Search(context.Background(), tt.q); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want %q", err, tt.want)
		}
	}
}

// With pairs, a frame scores the softmax mass of every text showing the query's thing: the
// query (which is contrast text 0 here) and the pairs naming text 0.
func TestSearchWithPairsMatchesBruteForce(t *testing.T) {
	clk := newClock()
	s := newStore(t, Options{Now: clk.Now})
	rng := rand.New(rand.NewPCG(33, 34))
	const dim, scale = 64, 30.0
	var frames []bruteFrame
	for i := range 100 {
		f := bruteFrame{camera: "a", seq: uint64(i + 1), time: clk.Advance(time.Second), emb: randomUnit(rng, dim)}
		frames = append(frames, f)
		if err := s.Add(Frame{Camera: f.camera, Seq: f.seq, Time: f.time, Image: solid(8, 8), Embedding: f.emb}); err != nil {
			t.Fatal(err)
		}
	}
	labels := make([][]float32, 4)
	for i := range labels {
		labels[i] = randomUnit(rng, dim)
	}
	var pairs []Pair
	for a := range labels {
		for b := range labels {
			if a != b {
				pairs = append(pairs, Pair{Embedding: randomUnit(rng, dim), A: a, B: b})
			}
		}
	}
	query := labels[0]
	got, err := s.Search(context.Background(), Query{Embedding: query, Contrast: labels, Pairs: pairs, LogitScale: scale, K: 100})
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint64]float64{}
	for _, f := range frames {
		shows, sum := 0.0, 0.0
		for i, l := range labels {
			e := math.Exp(scale * testutil.Cosine(l, f.emb))
			sum += e
			if i == 0 {
				shows += e
			}
		}
		for _, p := range pairs {
			e := math.Exp(scale * testutil.Cosine(p.Embedding, f.emb))
			sum += e
			if p.A == 0 || p.B == 0 {
				shows += e
			}
		}
		want[f.seq] = shows / sum
	}
	for i, h := range got {
		if w := want[h.Seq]; math.Abs(h.Score-w) > 1e-6 {
			t.Fatalf("hit %d (frame %d): probability %v, brute force %v", i, h.Seq, h.Score, w)
		}
	}
	// A query that is none of the labels is scored against the labels alone.
	other := randomUnit(rng, dim)
	withPairs, err := s.Search(context.Background(), Query{Embedding: other, Contrast: labels, Pairs: pairs, LogitScale: scale, K: 100})
	if err != nil {
		t.Fatal(err)
	}
	without, err := s.Search(context.Background(), Query{Embedding: other, Contrast: labels, LogitScale: scale, K: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := range without {
		if withPairs[i].Seq != without[i].Seq || withPairs[i].Score != without[i].Score {
			t.Fatalf("hit %d: pairs changed a query that is no label: %+v vs %+v", i, withPairs[i], without[i])
		}
	}
	for _, tt := range []struct {
		q    Query
		want string
	}{
		{Query{Embedding: query, Pairs: pairs, LogitScale: scale, K: 1}, "12 pairs without the contrast texts they pair"},
		{Query{Embedding: query, Contrast: labels, Pairs: []Pair{{Embedding: query, A: 0, B: 4}}, LogitScale: scale, K: 1}, "pair 0 names contrast texts 0 and 4 of 4"},
		{Query{Embedding: query, Contrast: labels, Pairs: []Pair{{Embedding: query, A: 1, B: 1}}, LogitScale: scale, K: 1}, "pair 0 names contrast texts 1 and 1 of 4"},
		{Query{Embedding: query, Contrast: labels, Pairs: []Pair{{Embedding: []float32{1}, A: 0, B: 1}}, LogitScale: scale, K: 1}, "pair embedding 0 has 1 values, the query 64"},
	} {
		if _, err := s.Search(context.Background(), tt.q); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want %q", err, tt.want)
		}
	}
}

func TestRerank(t *testing.T) {
	clk := newClock()
	rng := rand.New(rand.NewPCG(21, 22))
	var seen []Hit
	var seenQuery string
	// Rescore by frame number: the newest frame wins whatever its cosine.
	byFrame := RerankFunc(func(ctx context.Context, query string, hits []Hit) ([]float64, error) {
		seen, seenQuery = hits, query
		scores := make([]float64, len(hits))
		for i, h := range hits {
			scores[i] = float64(h.Seq)
		}
		return scores, nil
	})
	s := newStore(t, Options{Reranker: byFrame, RerankDepth: 10, Now: clk.Now})
	for seq := uint64(1); seq <= 50; seq++ {
		if err := s.Add(Frame{Camera: "c", Seq: seq, Time: clk.Advance(time.Second), Image: solid(8, 8), Embedding: randomUnit(rng, 32)}); err != nil {
			t.Fatal(err)
		}
	}
	query := randomUnit(rng, 32)
	hits, err := s.Search(context.Background(), Query{Text: "a red circle", Embedding: query, K: 3})
	if err != nil {
		t.Fatal(err)
	}
	if seenQuery != "a red circle" || len(seen) != 10 {
		t.Fatalf("reranker saw %q with %d hits; want the query and the best 10", seenQuery, len(seen))
	}
	cosineTop := bruteForceFromStore(t, s, query, 10)
	maxSeq := uint64(0)
	for _, h := range cosineTop {
		maxSeq = max(maxSeq, h.Seq)
	}
	if len(hits) != 3 || hits[0].Seq != maxSeq || !hits[0].Reranked || hits[0].Score != float64(maxSeq) {
		t.Fatalf("hits %+v; want 3, the first frame %d rescored", hits, maxSeq)
	}
	for i := 1; i < len(hits); i++ {
		if hits[i].Score > hits[i-1].Score {
			t.Fatalf("hits not ordered by the reranker's scores: %+v", hits)
		}
	}
	// k above the depth: the reranker sees k hits.
	if _, err := s.Search(context.Background(), Query{Embedding: query, K: 30}); err != nil || len(seen) != 30 {
		t.Fatalf("k 30: %v, reranker saw %d", err, len(seen))
	}

	failing := []struct {
		name string
		f    RerankFunc
		want string
	}{
		{"error", func(context.Context, string, []Hit) ([]float64, error) { return nil, errors.New("ITM model failed") }, `re-rank "q": ITM model failed`},
		{"short", func(context.Context, string, []Hit) ([]float64, error) { return []float64{1}, nil }, "1 scores for 10 hits"},
		{"NaN", func(_ context.Context, _ string, h []Hit) ([]float64, error) {
			out := make([]float64, len(h))
			out[4] = math.NaN()
			return out, nil
		}, "score 4 is NaN"},
	}
	for _, tt := range failing {
		s.opts.Reranker = tt.f
		_, err := s.Search(context.Background(), Query{Text: "q", Embedding: query, K: 3})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
	// A cancelled search does not call the reranker.
	called := false
	s.opts.Reranker = RerankFunc(func(context.Context, string, []Hit) ([]float64, error) { called = true; return nil, nil })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Search(ctx, Query{Embedding: query, K: 3}); !errors.Is(err, context.Canceled) || called {
		t.Fatalf("cancelled: %v, reranker called %v", err, called)
	}
}

func bruteForceFromStore(t *testing.T, s *Store, query []float32, k int) []Hit {
	t.Helper()
	var frames []bruteFrame
	s.mu.Lock()
	for name, r := range s.rings {
		for _, e := range r.entries {
			frames = append(frames, bruteFrame{camera: name, seq: e.seq, time: e.time, emb: e.embedding})
		}
	}
	s.mu.Unlock()
	return bruteForce(frames, query, "", k)
}

func BenchmarkSearch(b *testing.B) {
	for _, n := range []int{600, 5000} {
		b.Run(fmt.Sprintf("frames=%d/dim=512", n), func(b *testing.B) {
			s := newStore(b, Options{MaxFrames: n, MaxBytes: 1 << 30})
			rng := rand.New(rand.NewPCG(1, 1))
			img := solid(160, 120)
			now := time.Now()
			for i := range n {
				if err := s.Add(Frame{Camera: "c", Seq: uint64(i + 1), Time: now, Image: img, Embedding: randomUnit(rng, 512)}); err != nil {
					b.Fatal(err)
				}
			}
			q := Query{Embedding: randomUnit(rng, 512), K: 8}
			b.Run("cosine", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.Search(context.Background(), q); err != nil {
						b.Fatal(err)
					}
				}
			})
			for range 15 { // a label set of 15, as the shapes demo's
				q.Contrast = append(q.Contrast, randomUnit(rng, 512))
			}
			q.LogitScale = 100
			b.Run("contrast=15", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.Search(context.Background(), q); err != nil {
						b.Fatal(err)
					}
				}
			})
			// Folding near-copies at its worst: no frame is a copy of another, so every frame
			// is compared with every kept hit.
			q.SameScene = DefaultSameScene
			b.Run("contrast=15/same-scene", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.Search(context.Background(), q); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func BenchmarkAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	img, _ := render(b, rng, 320, 240)
	s := newStore(b, Options{})
	emb := randomUnit(rng, 512)
	seq := uint64(0)
	for b.Loop() {
		seq++
		if err := s.Add(Frame{Camera: "c", Seq: seq, Time: time.Now(), Image: img, Embedding: emb}); err != nil {
			b.Fatal(err)
		}
	}
}
