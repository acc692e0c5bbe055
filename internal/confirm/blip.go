package confirm

import (
	"context"
	"errors"
	"fmt"
	"image"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/internal/pool"
)

// BLIPMatcher is a Matcher over a BLIP image-text retrieval model
// (BlipForImageTextRetrieval). A BLIP session runs one call at a time, so it keeps a pool of
// sessions: as many matches run at once as it has sessions, the others wait for one.
type BLIPMatcher struct {
	sessions *pool.Pool[*blip.Session]
}

// NewBLIPMatcher opens n sessions of m, which must be an image-text retrieval model.
func NewBLIPMatcher(m *blip.Model, n int) (*BLIPMatcher, error) {
	if m == nil {
		return nil, errors.New("confirm: no BLIP model")
	}
	if m.Architecture != blip.ArchRetrieval {
		return nil, fmt.Errorf("confirm: the ITM model is a %s; image-text matching needs a %s", m.Architecture, blip.ArchRetrieval)
	}
	sessions, err := pool.New(n, m.NewSession, (*blip.Session).Close)
	if err != nil {
		return nil, fmt.Errorf("confirm: BLIP sessions: %w", err)
	}
	return &BLIPMatcher{sessions: sessions}, nil
}

// Match encodes img once and returns BLIP's ITM probability for each text.
func (bm *BLIPMatcher) Match(ctx context.Context, img image.Image, texts []string) ([]float64, error) {
	out := make([]float64, len(texts))
	err := bm.sessions.With(ctx, func(s *blip.Session) error {
		im, err := s.EncodeImage(img)
		if err != nil {
			return err
		}
		for i, text := range texts {
			if err := ctx.Err(); err != nil {
				return err
			}
			m, err := s.ITM(im, text)
			if err != nil {
				return fmt.Errorf("%q: %w", text, err)
			}
			out[i] = m.ITM
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Close frees the sessions. Call it once no Match runs.
func (bm *BLIPMatcher) Close() error { return bm.sessions.Close() }
