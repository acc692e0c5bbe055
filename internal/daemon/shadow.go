package daemon

import (
	"context"
	"image"
	"sync/atomic"
	"time"

	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/fidelity"
)

// Scenes change after a model was calibrated (night, snow, a moved camera), and a full-int8
// model in the cache may have been calibrated on images that never fitted. So while a
// full-int8 CLIP labels, every so often a frame the int8 model embedded is kept (its
// preprocessed pixels and the int8 embedding), and once a batch of them is kept the safe
// model is loaded, embeds them, and fidelity compares the two as the gate does. Over a bounded
// window of such shadow checks (one per frame) the running agreement is judged against the
// gate's bars; when it misses one, the daemon falls back to the safe model at once and
// calibrates again on the reservoir's frames, and the new model must pass the gate before it
// labels. The safe model is loaded per batch, not kept: loading it costs far more CPU than
// embedding a frame, and keeping it costs a second CLIP's memory all day.

// ShadowOptions say how often the safe model checks the full-int8 one.
type ShadowOptions struct {
	// Off turns shadow checks off.
	Off bool
	// Every: one frame in Every is kept for a check (500 when 0), and at least one per
	// Interval (10 minutes when 0), whichever comes first.
	Every    int
	Interval time.Duration
	// Batch is how many kept frames one load of the safe model checks (20 when 0).
	Batch int
	// Window is how many of the latest checks the running agreement is over (50 when 0); it
	// is judged once it is full.
	Window int
}

func (o ShadowOptions) withDefaults() ShadowOptions {
	if o.Every <= 0 {
		o.Every = 500
	}
	if o.Interval <= 0 {
		o.Interval = 10 * time.Minute
	}
	if o.Window <= 0 {
		o.Window = 50
	}
	if o.Batch <= 0 {
		o.Batch = 20
	}
	return o
}

// ShadowStatus is the running agreement of the full-int8 model with the safe one (/healthz).
type ShadowStatus struct {
	// Checks run since the start; Window is how many the running agreement is over now, of
	// WindowSize.
	Checks     int `json:"checks"`
	Window     int `json:"window"`
	WindowSize int `json:"window_size"`
	// The running agreement over the window, as the gate measures it.
	MeanCosine    float64 `json:"mean_cosine"`
	WorstCosine   float64 `json:"worst_cosine"`
	Top1Agreement float64 `json:"top1_agreement"`
	// Agreement is the window's verdict once it is full ("passed", or the bars missed).
	Agreement string `json:"agreement,omitempty"`
	// Fallbacks counts the times the agreement failed and the safe model took over;
	// FellBack is the failed agreement of the last time.
	Fallbacks int    `json:"fallbacks"`
	FellBack  string `json:"fell_back,omitempty"`
	// Error is why the last check could not run.
	Error string `json:"error,omitempty"`
}

// shadowTrigger says which frames are kept for shadow checks: one in every, and at least one
// per interval, and none while a batch is being checked. Lock-free: it is asked on every
// labelled frame.
type shadowTrigger struct {
	every    int64
	interval int64 // nanoseconds
	frames   atomic.Int64
	last     atomic.Int64 // when the last check started, Unix nanoseconds
	running  atomic.Bool
}

func newShadowTrigger(o ShadowOptions, now time.Time) *shadowTrigger {
	t := &shadowTrigger{every: int64(o.Every), interval: int64(o.Interval)}
	t.last.Store(now.UnixNano())
	return t
}

// frame counts a frame embedded at now; true means it is kept for a check, and no other frame
// gets true until done is called.
func (t *shadowTrigger) frame(now time.Time) bool {
	n := t.frames.Add(1)
	if n < t.every && now.UnixNano()-t.last.Load() < t.interval {
		return false
	}
	if !t.running.CompareAndSwap(false, true) {
		return false
	}
	t.frames.Store(0)
	t.last.Store(now.UnixNano())
	return true
}

// done ends the running check.
func (t *shadowTrigger) done() { t.running.Store(false) }

// agreementWindow is the running agreement: the tallies of the latest checks, one per frame.
type agreementWindow struct {
	tallies []fidelity.Tally // a ring of at most cap(tallies)
	next    int
}

func newAgreementWindow(size int) *agreementWindow {
	return &agreementWindow{tallies: make([]fidelity.Tally, 0, size)}
}

func (w *agreementWindow) add(t fidelity.Tally) {
	if len(w.tallies) < cap(w.tallies) {
		w.tallies = append(w.tallies, t)
		return
	}
	w.tallies[w.next] = t
	w.next = (w.next + 1) % len(w.tallies)
}

// reset empties the window: a new model starts a new agreement.
func (w *agreementWindow) reset() { w.tallies, w.next = w.tallies[:0], 0 }

// judge measures the window against th; full says whether the window holds its size of
// checks (only then does the verdict count).
func (w *agreementWindow) judge(th fidelity.Thresholds) (r fidelity.Report, full bool) {
	var all fidelity.Tally
	for i := range w.tallies {
		all.Merge(&w.tallies[i])
	}
	return fidelity.Judge(&all, th, "shadow checks"), len(w.tallies) == cap(w.tallies)
}

// status is the window's figures for /healthz.
func (w *agreementWindow) status(s *ShadowStatus, th fidelity.Thresholds) (r fidelity.Report, full bool) {
	r, full = w.judge(th)
	s.Window, s.WindowSize = len(w.tallies), cap(w.tallies)
	s.MeanCosine, s.WorstCosine, s.Top1Agreement = r.MeanCosine, r.WorstCosine, r.Top1Agreement
	s.Agreement = ""
	if full {
		s.Agreement = fidelity.Why(r)
	}
	return r, full
}

// shadowFrame is a frame kept for a check: the model's input, and the full-int8 embedding of it.
type shadowFrame struct {
	pixels []float32
	emb    []float32
}

// shadowReference is the safe model a shadow check compares the full-int8 one with, and the
// one the daemon falls back to.
type shadowReference interface {
	// keep makes a shadowFrame of img, which cand embedded as emb (copies: the frame's
	// buffers go back to the camera).
	keep(cand swappableCLIP, img image.Image, emb []float32) (shadowFrame, error)
	// prepare makes the safe model's bundle ready (converting it the first time); it may
	// take long, and is called without holding the labeler's model.
	prepare(ctx context.Context) error
	// compare loads the safe model, embeds the frames with it and returns, per frame, a tally
	// of how cand's embedding agrees with it on the label sets. cand stays open throughout
	// (the caller holds it).
	compare(ctx context.Context, cand swappableCLIP, frames []shadowFrame, sets []*clip.LabelSet) ([]fidelity.Tally, error)
	// safe loads the safe model to label with.
	safe(ctx context.Context) (swappableCLIP, error)
}
