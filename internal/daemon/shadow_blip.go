package daemon

import (
	"context"
	"fmt"
	"image"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/fidelity"
	"github.com/edged/edged/runtime/tflite"
)

// Shadow checks of a full-int8 BLIP captioning or VQA model (shadowChecks): a kept frame holds
// what the int8 model gave on it (its vision output, the caption or the answers, with the
// calls that made them) and the frame's preprocessed pixels; per batch the safe model (the
// checkpoint at int8-dynamic in the cache) encodes the pixels and makes the same calls, and
// fidelity compares the vision outputs token by token and the texts word for word, as the gate
// does. Nothing runs on the int8 model again. When the agreement fails the safe pool is
// swapped in (hotSwap) and the model calibrates again on the reservoir.

// blipShadowFrame is a frame a full-int8 BLIP model ran on, kept for a check (copies: the
// frame and the session's buffers are reused).
type blipShadowFrame struct {
	pixels, embeds []float32
	texts          []fidelity.BLIPText // a caption ranked from candidates keeps none
}

// blipReference is the safe BLIP model shadow checks compare with and fall back to.
type blipReference interface {
	// prepare makes the safe bundle ready (converting it the first time).
	prepare(ctx context.Context) error
	bundle() *bundle.Bundle
	// compare loads the safe model and compares it with what the int8 model gave on each
	// frame, a tally per frame.
	compare(frames []blipShadowFrame) ([]fidelity.Tally, error)
}

// safeBLIP is the safe bundle of a BLIP checkpoint, loaded for each batch of checks on one
// thread and closed after it: a second BLIP base kept in memory would cost a 4 GB device
// about a GiB all day.
type safeBLIP struct {
	safeBundle
	run tflite.Options
}

func (r *safeBLIP) compare(frames []blipShadowFrame) ([]fidelity.Tally, error) {
	b := r.bundle()
	hidden, err := b.Manifest.Int(spec.ValueVisionHidden)
	if err != nil {
		return nil, fmt.Errorf("shadow checks: the safe model: %w", err)
	}
	run := r.run
	run.Threads = 1 // checks are background work
	m, err := blip.Load(b, blip.Options{Runtime: run})
	if err != nil {
		return nil, fmt.Errorf("shadow checks: the safe model: %w", err)
	}
	defer m.Close()
	s, err := m.NewSession()
	if err != nil {
		return nil, fmt.Errorf("shadow checks: the safe model: %w", err)
	}
	defer s.Close()
	tallies := make([]fidelity.Tally, len(frames))
	for i, f := range frames {
		if err := fidelity.CompareBLIPKept(s, hidden, fmt.Sprintf("frame %d of the batch", i+1), f.pixels, f.embeds, f.texts, &tallies[i]); err != nil {
			return nil, err
		}
	}
	return tallies, nil
}

// watch starts shadow checks of the full-int8 model against ref.
func (c *calibratingBLIP) watch(ref blipReference) {
	c.ref = ref
	c.shadow = newShadowChecks(&c.calibrator, c.compareShadow, c.fallBackToSafe)
}

// shadowDue says whether the frame the model has just run on is kept for a check; when true,
// keepShadow must follow.
func (c *calibratingBLIP) shadowDue() bool { return c != nil && c.shadow.due() }

// keepShadow keeps what p gave on img (encoded as im; texts) for a check. The copies are
// made now, in the session whose buffers im views.
func (c *calibratingBLIP) keepShadow(p *blipPool, img image.Image, im *blip.Image, texts []fidelity.BLIPText) func() {
	pixels, err := p.model.Processor().Process(img, nil)
	f := blipShadowFrame{pixels: pixels, embeds: append([]float32(nil), im.Embeds()...), texts: texts}
	return func() { c.shadow.keep(p, func() (blipShadowFrame, error) { return f, err }) }
}

// compareShadow compares the safe model with what m gave on a batch (shadowChecks' compare).
// m is not run again, so it is not held: only asked whether it still runs.
func (c *calibratingBLIP) compareShadow(m *blipPool, batch []blipShadowFrame) ([]fidelity.Tally, bool, error) {
	if err := c.ref.prepare(c.ctx); err != nil {
		return nil, false, err
	}
	if !c.runs(m) { // swapped or unloaded since: the frames say nothing of the model now
		return nil, true, nil
	}
	tallies, err := c.ref.compare(batch)
	return tallies, false, err
}

// runs says whether m is the loaded model.
func (c *calibratingBLIP) runs(m *blipPool) bool {
	c.tmu.Lock()
	h := c.target
	c.tmu.Unlock()
	if h == nil {
		return false
	}
	cur := h.model()
	h.swap.RUnlock()
	return cur == m
}

// fallBackToSafe swaps the safe pool in (shadowChecks' safe); loads read the safe bundle
// until a recalibrated one passes the gate.
func (c *calibratingBLIP) fallBackToSafe() error {
	if err := c.ref.prepare(c.ctx); err != nil {
		return err
	}
	b := c.ref.bundle()
	return c.runOn(b, b.Dir, "the full-int8 model")
}
