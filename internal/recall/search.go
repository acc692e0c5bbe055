package recall

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Query is a text search over the remembered frames.
type Query struct {
	// Text is the query as the user typed it; the Reranker reads it.
	Text string
	// Embedding is the CLIP text embedding of Text (normalised or not).
	Embedding []float32
	// Contrast are CLIP text embeddings of other things a frame may show (a camera's labels,
	// say). With them a frame scores the probability CLIP gives the query against them,
	// softmax(LogitScale × cosine), rather than the bare cosine: a frame showing a blue square
	// is close to "blue circle" by cosine, but far less likely than "blue square", so a frame
	// that really shows a blue circle (beside something else) ranks first. Contrast texts
	// that say what the query says (cosine with it of SameText or more: "a red circle"
	// against the label prompt "a photo of a red circle") are skipped, or the query would
	// compete with itself.
	Contrast [][]float32
	// LogitScale is the CLIP model's softmax multiplier; required with Contrast.
	LogitScale float64
	// Pairs are CLIP text embeddings of two contrast texts said together ("a photo of a red
	// circle and a blue square"). When the query says what one contrast text says (see
	// SameText), a frame scores the probability of every text that shows the query's
	// thing, itself or in a pair, against all of them: a frame with a red circle beside a
	// blue square is then found for "red circle" even though its one embedding sits
	// between the two things. Without Pairs, or for a query that is none of the contrast
	// texts, pairs are not used.
	Pairs []Pair
	// Camera limits the search to one camera; "" searches every camera.
	Camera string
	// K is how many hits to return at most.
	K int
	// SameScene folds near-copies of one scene into one hit: a frame whose image embedding
	// has cosine similarity SameScene or more with a better-ranked hit of the same camera is
	// counted in that hit's Similar instead of being returned. Zero returns every frame (see
	// DefaultSameScene).
	SameScene float64
}

// DefaultSameScene is the image cosine similarity above which two frames of a camera are
// taken for the same scene. On the shapes CLIP a scene under fresh sensor noise and colour
// jitter stays above 0.998 with itself, the same objects moved by a twentieth of the frame
// span 0.90 to 0.9995, and distinct scenes stay below 0.86: 0.97 folds a still scene's
// frames and a slightly moved object, and keeps every other scene apart.
const DefaultSameScene = 0.97

// Pair is the text embedding of contrast texts A and B (indexes into Query.Contrast) said
// together.
type Pair struct {
	Embedding []float32
	A, B      int
}

// NewPairs zips pair embeddings with the indexes of the texts each pairs (as
// clip.LabelSet.PairSet gives them).
func NewPairs(embeddings [][]float32, texts [][2]int) []Pair {
	pairs := make([]Pair, min(len(embeddings), len(texts)))
	for i := range pairs {
		pairs[i] = Pair{Embedding: embeddings[i], A: texts[i][0], B: texts[i][1]}
	}
	return pairs
}

// Hit is a remembered frame that matches a query.
type Hit struct {
	Camera string
	Seq    uint64
	Time   time.Time
	// Score orders the hits, best first: the Reranker's score when Reranked; else the
	// probability of the query against the Contrast texts when the query had some; else
	// Cosine.
	Score float64
	// Cosine is the CLIP cosine similarity of the frame and the query, in [-1, 1].
	Cosine   float64
	Reranked bool
	// Similar counts the remembered frames of the same camera folded into this hit as
	// near-copies of it (Query.SameScene); they ranked below it.
	Similar int
	// Thumbnail is the frame as a small JPEG. It is shared: do not modify it.
	Thumbnail []byte
	// Annotations are the frame's, as given to Store.Add (a synthetic frame's truth); nil for
	// real cameras. Read-only.
	Annotations map[string]string
}

// Reranker rescores the best cosine hits of a search, such as with BLIP image-text matching
// on their thumbnails. It returns one score per hit, higher is better, in the hits' order.
type Reranker interface {
	Rerank(ctx context.Context, query string, hits []Hit) ([]float64, error)
}

// RerankFunc adapts a function to a Reranker.
type RerankFunc func(ctx context.Context, query string, hits []Hit) ([]float64, error)

// Rerank calls f.
func (f RerankFunc) Rerank(ctx context.Context, query string, hits []Hit) ([]float64, error) {
	return f(ctx, query, hits)
}

// Search returns the best-matching remembered frames for q, best first: by cosine similarity
// of the query's and the frames' embeddings, or by probability against the query's Contrast
// texts (ties: the newer frame first), near-copies folded into the best of them when
// q.SameScene is set; then, with a Reranker, the best RerankDepth of them rescored and
// reordered. Fewer than K hits come back when fewer frames are held; a camera
// with no frames gives no hits.
func (s *Store) Search(ctx context.Context, q Query) ([]Hit, error) {
	if q.K <= 0 {
		return nil, fmt.Errorf("recall: k is %d; it must be positive", q.K)
	}
	if !(q.SameScene >= 0 && q.SameScene <= 1) {
		return nil, fmt.Errorf("recall: same-scene similarity is %v; it must be in [0, 1] (0 keeps every frame)", q.SameScene)
	}
	query, err := unitCopy(q.Embedding)
	if err != nil {
		return nil, fmt.Errorf("recall: query embedding %w", err)
	}
	contrast, err := contrastSet(query, q.Contrast, q.Pairs, q.LogitScale)
	if err != nil {
		return nil, err
	}
	depth := q.K
	if s.opts.Reranker != nil {
		depth = max(q.K, s.opts.RerankDepth)
	}

	hits, err := s.rank(query, contrast, q.LogitScale, q.Camera, depth, q.SameScene)
	if err != nil {
		return nil, err
	}
	if s.opts.Reranker == nil || len(hits) == 0 {
		return hits, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	scores, err := s.opts.Reranker.Rerank(ctx, q.Text, slices.Clone(hits))
	if err != nil {
		return nil, fmt.Errorf("recall: re-rank %q: %w", q.Text, err)
	}
	if len(scores) != len(hits) {
		return nil, fmt.Errorf("recall: re-rank %q: %d scores for %d hits", q.Text, len(scores), len(hits))
	}
	for i, sc := range scores {
		if math.IsNaN(sc) {
			return nil, fmt.Errorf("recall: re-rank %q: score %d is NaN", q.Text, i)
		}
		hits[i].Score, hits[i].Reranked = sc, true
	}
	slices.SortStableFunc(hits, compareHits)
	return hits[:min(q.K, len(hits))], nil
}

// contrast is what a query is scored against: texts that also show the query's thing
// (pairs naming it) and texts that do not (the other labels, the other pairs).
type contrast struct {
	with, others [][]float32
}

func (c contrast) empty() bool { return len(c.with) == 0 && len(c.others) == 0 }

// contrastSet checks the contrast and pair embeddings and sorts unit copies of them into
// those that show the query's thing and those that do not. Contrast texts that are the query
// itself are left out: counting them twice would halve every probability.
func contrastSet(query []float32, embeddings [][]float32, pairs []Pair, scale float64) (contrast, error) {
	var c contrast
	if len(embeddings) == 0 {
		if len(pairs) > 0 {
			return c, fmt.Errorf("recall: %d pairs without the contrast texts they pair", len(pairs))
		}
		return c, nil
	}
	if !(scale > 0) || math.IsInf(scale, 0) {
		return c, fmt.Errorf("recall: logit scale is %v; contrast texts need CLIP's positive logit scale", scale)
	}
	unit := func(what string, i int, e []float32) ([]float32, error) {
		u, err := unitCopy(e)
		if err != nil {
			return nil, fmt.Errorf("recall: %s embedding %d %w", what, i, err)
		}
		if len(u) != len(query) {
			return nil, fmt.Errorf("recall: %s embedding %d has %d values, the query %d", what, i, len(u), len(query))
		}
		return u, nil
	}
	isQuery := make([]bool, len(embeddings))
	for i, e := range embeddings {
		u, err := unit("contrast", i, e)
		if err != nil {
			return c, err
		}
		if isQuery[i] = dot(u, query) >= SameText; !isQuery[i] {
			c.others = append(c.others, u)
		}
	}
	if !slices.Contains(isQuery, true) {
		return c, nil // pairs only say which frames show the query when it is one of the texts
	}
	for i, p := range pairs {
		if p.A < 0 || p.A >= len(embeddings) || p.B < 0 || p.B >= len(embeddings) || p.A == p.B {
			return c, fmt.Errorf("recall: pair %d names contrast texts %d and %d of %d", i, p.A, p.B, len(embeddings))
		}
		u, err := unit("pair", i, p.Embedding)
		if err != nil {
			return c, err
		}
		if isQuery[p.A] || isQuery[p.B] {
			c.with = append(c.with, u)
		} else {
			c.others = append(c.others, u)
		}
	}
	return c, nil
}

// SameText is the cosine similarity of two text embeddings above which they are taken to
// say the same thing: a text and its prompt template sit above it (the shapes CLIP: "a red
// circle" and "a photo of a red circle", 0.999), distinct labels well below ("a red circle"
// and "a photo of a red square", 0.74).
const SameText = 0.99

// scored is a frame and its score while ranking: small, so sorting thousands is cheap.
type scored struct {
	score, cosine float64
	camera        string
	e             *entry
}

// rank scores every remembered frame of camera ("" all) against the unit query (and the
// contrast texts) and returns the best n, near-copies folded in when sameScene > 0.
func (s *Store) rank(query []float32, contrast contrast, scale float64, camera string, n int, sameScene float64) ([]Hit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneAge(s.opts.Now())
	if s.dim == 0 {
		return nil, nil
	}
	if len(query) != s.dim {
		return nil, fmt.Errorf("recall: query embedding has %d values, the frames' have %d (is it from the same CLIP model?)", len(query), s.dim)
	}
	var all []scored
	logits := make([]float64, len(contrast.with)+len(contrast.others)) // scratch for probability
	for name, r := range s.rings {
		if camera != "" && name != camera {
			continue
		}
		for _, e := range r.entries {
			c := dot(query, e.embedding)
			sc := scored{score: c, cosine: c, camera: name, e: e}
			if !contrast.empty() {
				sc.score = probability(c, e.embedding, contrast, scale, logits)
			}
			all = append(all, sc)
		}
	}
	slices.SortFunc(all, func(a, b scored) int {
		return compareRank(a.score, b.score, a.e.time, b.e.time, a.camera, b.camera, a.e.seq, b.e.seq)
	})
	if sameScene > 0 {
		return foldSameScene(all, n, sameScene), nil
	}
	hits := make([]Hit, min(n, len(all)))
	for i := range hits {
		hits[i] = all[i].hit()
	}
	return hits, nil
}

// foldSameScene walks ranked frames best first and keeps the best n that are no near-copy
// (image cosine >= same) of a better kept frame of their camera; every near-copy, kept
// frames' lists full or not, is counted in the first kept frame it copies. Comparing with
// kept frames only, never with other copies, stops a slow drift of the scene from chaining
// distinct scenes together.
func foldSameScene(ranked []scored, n int, same float64) []Hit {
	var hits []Hit
	var kept []*entry
	for _, sc := range ranked {
		copyOf := -1
		for i, k := range kept {
			if hits[i].Camera == sc.camera && dot(k.embedding, sc.e.embedding) >= same {
				copyOf = i
				break
			}
		}
		switch {
		case copyOf >= 0:
			hits[copyOf].Similar++
		case len(hits) < n:
			hits = append(hits, sc.hit())
			kept = append(kept, sc.e)
		}
	}
	return hits
}

func (sc scored) hit() Hit {
	h := sc.e.hit(sc.camera, sc.cosine)
	h.Score = sc.score
	return h
}

// probability is the softmax(scale × cosine) mass of the texts that show the query's thing
// (the query, whose cosine with the frame is cosine, and contrast.with) over every text;
// logits is scratch of len(contrast.with)+len(contrast.others).
func probability(cosine float64, frame []float32, contrast contrast, scale float64, logits []float64) float64 {
	// Subtracting the largest logit keeps exp in range.
	top := scale * cosine
	for i, c := range contrast.with {
		logits[i] = scale * dot(c, frame)
		top = max(top, logits[i])
	}
	for i, c := range contrast.others {
		k := len(contrast.with) + i
		logits[k] = scale * dot(c, frame)
		top = max(top, logits[k])
	}
	shows := math.Exp(scale*cosine - top)
	for _, l := range logits[:len(contrast.with)] {
		shows += math.Exp(l - top)
	}
	sum := shows
	for _, l := range logits[len(contrast.with):] {
		sum += math.Exp(l - top)
	}
	return shows / sum
}

// compareHits orders hits by Score as compareRank does.
func compareHits(a, b Hit) int {
	return compareRank(a.Score, b.Score, a.Time, b.Time, a.Camera, b.Camera, a.Seq, b.Seq)
}

// compareRank orders by score, higher first; then newer first; then by camera and frame, so
// the order never depends on map iteration.
func compareRank(sa, sb float64, ta, tb time.Time, ca, cb string, qa, qb uint64) int {
	switch {
	case sa > sb:
		return -1
	case sa < sb:
		return 1
	case !ta.Equal(tb):
		return tb.Compare(ta)
	case ca != cb:
		return strings.Compare(ca, cb)
	case qa > qb:
		return -1
	case qa < qb:
		return 1
	}
	return 0
}

func (e *entry) hit(camera string, cosine float64) Hit {
	return Hit{Camera: camera, Seq: e.seq, Time: e.time, Score: cosine, Cosine: cosine, Thumbnail: e.thumb, Annotations: e.notes}
}

// dot is the inner product, accumulated in float64 over four independent sums (so the
// additions pipeline; search time is almost all here).
func dot(a, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += float64(a[i]) * float64(b[i])
		s1 += float64(a[i+1]) * float64(b[i+1])
		s2 += float64(a[i+2]) * float64(b[i+2])
		s3 += float64(a[i+3]) * float64(b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += float64(a[i]) * float64(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}
