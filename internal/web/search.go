package web

import (
	"context"
	"fmt"

	"github.com/edged/edged/internal/recall"
)

// RecallSearch serves Backend.Search and Backend.Thumbnail from a recall.Store: a query is
// embedded by CLIP's text tower and ranked against the frames, contrasted with the camera's
// labels and their pairs when Contrast gives them (see recall.Query). Near-copies of one
// scene come back as one hit, its best frame, counting the others (recall.DefaultSameScene).
type RecallSearch struct {
	Store *recall.Store
	// EmbedText returns the CLIP text embedding of a query.
	EmbedText func(ctx context.Context, text string) ([]float32, error)
	// Contrast returns the text embeddings a query is ranked against for a camera ("" for
	// every camera), typically its label sets' embeddings and their pairs (see
	// recall.Query), with the model's logit scale. Nil, or no embeddings, ranks by bare
	// cosine similarity.
	Contrast func(camera string) (labels [][]float32, pairs []recall.Pair, logitScale float64)
}

// Search embeds query and returns the best k frames of camera ("" every camera).
func (r *RecallSearch) Search(ctx context.Context, query, camera string, k int) ([]Hit, error) {
	if r == nil || r.Store == nil || r.EmbedText == nil {
		return nil, fmt.Errorf("%w: search is off (it needs a CLIP model)", ErrUnavailable)
	}
	emb, err := r.EmbedText(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("text embedding: %w", err)
	}
	q := recall.Query{Text: query, Embedding: emb, Camera: camera, K: k, SameScene: recall.DefaultSameScene}
	if r.Contrast != nil {
		q.Contrast, q.Pairs, q.LogitScale = r.Contrast(camera)
	}
	hits, err := r.Store.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]Hit, len(hits))
	for i, h := range hits {
		out[i] = Hit{Camera: h.Camera, Frame: FrameInfo{Seq: h.Seq, Time: h.Time}, Score: h.Score, Cosine: h.Cosine,
			Reranked: h.Reranked, Similar: h.Similar, Annotations: h.Annotations}
	}
	return out, nil
}

// Thumbnail returns a remembered frame's thumbnail.
func (r *RecallSearch) Thumbnail(camera string, frame uint64) ([]byte, error) {
	if r == nil || r.Store == nil {
		return nil, fmt.Errorf("%w: search is off", ErrUnavailable)
	}
	h, ok := r.Store.Get(camera, frame)
	if !ok {
		return nil, fmt.Errorf("%w: frame %d is no longer remembered", ErrNotFound, frame)
	}
	return h.Thumbnail, nil
}

// Health says how much the store holds.
func (r *RecallSearch) Health() SearchHealth {
	if r == nil || r.Store == nil || r.EmbedText == nil {
		return SearchHealth{}
	}
	st := r.Store.Stats()
	return SearchHealth{Enabled: true, Frames: st.Frames, Bytes: st.Bytes}
}
