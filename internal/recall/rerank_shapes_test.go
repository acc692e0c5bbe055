package recall

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/edged/edged/blip/bliptest"
	"github.com/edged/edged/internal/confirm"
)

// search.rerank on the shapes world's truth: rings of 40 held-out scenes (a third with two
// objects, at the synthetic camera's 320x240, with the training's colour jitter and noise),
// searched for every "a <colour> <shape>" that a frame of the ring shows. Does the best hit
// show the object?
//   - ITM alone: bare CLIP cosine (the weakest ranking: one embedding of a picture does not
//     bind colours to shapes) with every frame of the ring re-ranked by the shapes ITM model
//     on its thumbnail, so that the order is ITM's;
//   - the daemon's way: CLIP's probability against the labels and their pairs, its best
//     RerankDepth (default) hits re-ranked by ITM.
//
// Bar for both: 98% of the queries (the daemon's way without ITM is logged beside it).
func TestRerankWithShapesITM(t *testing.T) {
	m, labels, pairs := shapesCLIP(t)
	bm, err := confirm.NewBLIPMatcher(bliptest.ShapesITMModel(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer bm.Close()
	const rings, scenesPerRing = 8, 40
	var byCosine, itmAlone, daemonWay, daemonWayITM, asked int
	for ring := range rings {
		rng := rand.New(rand.NewPCG(uint64(ring), 2026))
		plain := newStore(t, Options{})
		whole := newStore(t, Options{Reranker: MatchReranker(bm), RerankDepth: scenesPerRing})
		depth := newStore(t, Options{Reranker: MatchReranker(bm)})
		truth := fillRing(t, m, rng, scenesPerRing, true, plain, whole, depth)
		for _, label := range shownLabels(truth) {
			asked++
			bare := Query{Text: "a " + label, K: 1}
			if bare.Embedding, err = m.EmbedQuery(bare.Text); err != nil {
				t.Fatal(err)
			}
			daemon := bare
			daemon.Contrast, daemon.LogitScale, daemon.Pairs = labels, float64(m.LogitScale()), pairs
			for _, c := range []struct {
				s     *Store
				q     Query
				count *int
				name  string
			}{{plain, bare, &byCosine, ""}, {whole, bare, &itmAlone, "ITM alone"}, {plain, daemon, &daemonWay, ""}, {depth, daemon, &daemonWayITM, "the daemon's way"}} {
				hits, err := c.s.Search(context.Background(), c.q)
				if err != nil {
					t.Fatal(err)
				}
				if showsLabel(&truth[hits[0].Seq-1], label) { // fillRing numbers frames from 1
					*c.count++
				} else if c.name != "" {
					t.Logf("ring %d, %s: %q found frame %d showing %v (score %.3f)", ring, c.name, c.q.Text, hits[0].Seq, truth[hits[0].Seq-1].Objects, hits[0].Score)
				}
			}
		}
	}
	t.Logf("best hit shows the object, of %d queries: ITM alone %d (bare cosine %d); the daemon's way re-ranked by ITM %d (without ITM %d)",
		asked, itmAlone, byCosine, daemonWayITM, daemonWay)
	if float64(itmAlone) < 0.98*float64(asked) || float64(daemonWayITM) < 0.98*float64(asked) {
		t.Errorf("the best hit showed the object for %d (ITM alone) and %d (the daemon's way) of %d queries; want ≥ 98%% each", itmAlone, daemonWayITM, asked)
	}
}
