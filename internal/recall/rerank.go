package recall

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"

	"github.com/edged/edged/internal/confirm"
)

// MatchReranker rescores hits by m's score of the query against each hit's thumbnail. BLIP
// reads pictures at 384 pixels: thumbnails that narrow (Options.ThumbWidth) keep its
// re-ranking at its best, at the cost of more bytes per frame.
func MatchReranker(m confirm.Matcher) Reranker {
	return RerankFunc(func(ctx context.Context, query string, hits []Hit) ([]float64, error) {
		scores := make([]float64, len(hits))
		for i, h := range hits {
			img, err := jpeg.Decode(bytes.NewReader(h.Thumbnail))
			if err != nil {
				return nil, fmt.Errorf("thumbnail of %s frame %d: %w", h.Camera, h.Seq, err)
			}
			s, err := m.Match(ctx, img, []string{query})
			if err != nil {
				return nil, err
			}
			if len(s) != 1 {
				return nil, fmt.Errorf("the matcher gave %d scores for one text", len(s))
			}
			scores[i] = s[0]
		}
		return scores, nil
	})
}
