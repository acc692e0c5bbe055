package web

import (
	"context"
	"errors"
	"testing"
)

func TestRecallSearchOff(t *testing.T) {
	for _, r := range []*RecallSearch{nil, {}, {EmbedText: func(context.Context, string) ([]float32, error) { return []float32{1}, nil }}} {
		if _, err := r.Search(context.Background(), "a red circle", "", 3); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%+v: search error %v; want ErrUnavailable", r, err)
		}
		if _, err := r.Thumbnail("c", 1); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%+v: thumbnail error %v; want ErrUnavailable", r, err)
		}
		if h := r.Health(); h.Enabled {
			t.Errorf("%+v: health %+v", r, h)
		}
	}
}

// A failing text tower is reported as the search's error, naming the step.
func TestRecallSearchEmbedError(t *testing.T) {
	b := newRefBackend(t)
	b.advance(t)
	r := &RecallSearch{Store: b.store, EmbedText: func(context.Context, string) ([]float32, error) { return nil, errors.New("tower broke") }}
	if _, err := r.Search(context.Background(), "x", "", 1); err == nil || err.Error() != "text embedding: tower broke" {
		t.Fatalf("error %v", err)
	}
	// Without contrast, hits are ranked by bare cosine: Score equals Cosine.
	r.EmbedText = func(_ context.Context, text string) ([]float32, error) {
		e, _ := b.ref.LabelEmbedding(text)
		return e, nil
	}
	hits, err := r.Search(context.Background(), "blue triangle", "shapes", 1)
	if err != nil || len(hits) != 1 || hits[0].Score != hits[0].Cosine || hits[0].Camera != "shapes" {
		t.Fatalf("hits %+v, %v", hits, err)
	}
}
