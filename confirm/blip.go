package confirm

import (
	"context"
	"errors"
	"fmt"
	"image"

	"github.com/edged/edged/blip"
)

// BLIPMatcher is a Matcher over a BLIP image-text retrieval model
// (BlipForImageTextRetrieval). A BLIP session runs one call at a time, so it keeps a pool of
// sessions: as many matches run at once as it has sessions, the others wait for one.
type BLIPMatcher struct {
	sessions chan *blip.Session
	all      []*blip.Session
}

// NewBLIPMatcher opens n sessions of m, which must be an image-text retrieval model.
func NewBLIPMatcher(m *blip.Model, n int) (*BLIPMatcher, error) {
	if m == nil {
		return nil, errors.New("confirm: no BLIP model")
	}
	if m.Architecture != blip.ArchRetrieval {
		return nil, fmt.Errorf("confirm: the ITM model is a %s; image-text matching needs a %s", m.Architecture, blip.ArchRetrieval)
	}
	if n < 1 {
		return nil, fmt.Errorf("confirm: %d sessions; at least one is needed", n)
	}
	bm := &BLIPMatcher{sessions: make(chan *blip.Session, n)}
	for range n {
		s, err := m.NewSession()
		if err != nil {
			bm.Close()
			return nil, fmt.Errorf("confirm: BLIP session: %w", err)
		}
		bm.all = append(bm.all, s)
		bm.sessions <- s
	}
	return bm, nil
}

// Match encodes img once and returns BLIP's ITM probability for each text.
func (bm *BLIPMatcher) Match(ctx context.Context, img image.Image, texts []string) ([]float64, error) {
	var s *blip.Session
	select {
	case s = <-bm.sessions:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { bm.sessions <- s }()
	im, err := s.EncodeImage(img)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(texts))
	for i, text := range texts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m, err := s.ITM(im, text)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", text, err)
		}
		out[i] = m.ITM
	}
	return out, nil
}

// Close frees the sessions. Call it once no Match runs.
func (bm *BLIPMatcher) Close() error {
	var errs []error
	for _, s := range bm.all {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
