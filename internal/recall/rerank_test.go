package recall

import (
	"bytes"
	"context"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/blip/bliptest"
	"github.com/edged/edged/internal/confirm"
)

// Re-ranking with the real BLIP ITM (the random-weight golden retrieval model with the shapes
// vocabulary, whose numbers mean nothing; TestRerankWithShapesITM has the trained one): the
// hits come back ordered by exactly what the model says about each thumbnail.
func TestMatchRerankerWithBLIPITM(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a BLIP model")
	}
	m := bliptest.TinyITMModel(t)
	bm, err := confirm.NewBLIPMatcher(m, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer bm.Close()

	clk := newClock()
	s := newStore(t, Options{Reranker: MatchReranker(bm), RerankDepth: 6, Now: clk.Now})
	rng := rand.New(rand.NewPCG(4, 4))
	for seq := uint64(1); seq <= 10; seq++ {
		img, _ := render(t, rng, 320, 240)
		if err := s.Add(Frame{Camera: "c", Seq: seq, Time: clk.Advance(time.Second), Image: img, Embedding: randomUnit(rng, 16)}); err != nil {
			t.Fatal(err)
		}
	}
	hits, err := s.Search(context.Background(), Query{Text: "a red circle", Embedding: randomUnit(rng, 16), K: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 4 {
		t.Fatalf("%d hits", len(hits))
	}
	for i, h := range hits {
		img, err := jpeg.Decode(bytes.NewReader(h.Thumbnail))
		if err != nil {
			t.Fatal(err)
		}
		want, err := bm.Match(context.Background(), img, []string{"a red circle"})
		if err != nil {
			t.Fatal(err)
		}
		if !h.Reranked || math.Abs(h.Score-want[0]) > 1e-9 || (i > 0 && h.Score > hits[i-1].Score) {
			t.Fatalf("hit %d: %+v; want reranked, score %v, in order", i, h, want[0])
		}
	}

	// A broken thumbnail is an error naming the frame.
	bad := []Hit{{Camera: "c", Seq: 3, Thumbnail: []byte("not a jpeg")}}
	if _, err := MatchReranker(bm).Rerank(context.Background(), "x", bad); err == nil || !strings.Contains(err.Error(), "thumbnail of c frame 3") {
		t.Fatalf("error %v", err)
	}
}
