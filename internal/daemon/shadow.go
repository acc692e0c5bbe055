package daemon

import (
	"context"
	"errors"
	"fmt"
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
	// TextAgreement is BLIP's share of identical captions or answers (nil: none compared).
	TextAgreement *float64 `json:"text_agreement,omitempty"`
	// Agreement is the window's verdict once it is full ("passed", or the bars missed).
	Agreement string `json:"agreement,omitempty"`
	// Fallbacks counts the times the agreement failed and the safe model took over;
	// FellBack is the failed agreement of the last time.
	Fallbacks int    `json:"fallbacks"`
	FellBack  string `json:"fell_back,omitempty"`
	// Error is why the last check could not run.
	Error string `json:"error,omitempty"`
	// MemoryDrops counts the batches dropped because the safe model did not fit in
	// runtime.memory_limit beside what was loaded then (Error "waiting for memory").
	MemoryDrops int `json:"memory_drops"`
}

// errWaitingForMemory is the shadow status's error of a batch dropped for memory.
var errWaitingForMemory = errors.New("waiting for memory")

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
	s.TextAgreement = nil
	if r.TextCompared > 0 {
		text := r.TextAgreement
		s.TextAgreement = &text
	}
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

// shadowChecks are the shadow checks of a calibrator's full-int8 model, whatever the model (M:
// CLIP's swappableCLIP, BLIP's *blipPool; F: what a kept frame holds): frames the trigger
// picks are kept in batches, a full batch is checked in the background against the safe
// model, the checks go into the running agreement, and when it fails the safe model takes
// over and the calibrator calibrates again on the reservoir.
type shadowChecks[M comparable, F any] struct {
	c       *calibrator
	trigger *shadowTrigger
	// compare prepares the safe model and compares it with m on batch, a tally per frame;
	// stale says m is no longer the model (the frames say nothing of the one running now).
	compare func(m M, batch []F) (tallies []fidelity.Tally, stale bool, err error)
	// safe makes the safe model the one that runs.
	safe func() error
	// convertsSafe says whether the next compare converts the safe bundle first (nil: never),
	// which the batch's memory must cover.
	convertsSafe func() bool

	// Under c.mu:
	window *agreementWindow
	kept   []F // frames kept for the next batch
	keptBy M   // the model that ran on them
}

// newShadowChecks watches c's full-int8 model: c is not done while checks run, and a model
// that passes the gate after a fallback is watched again with a new window (c.passed).
func newShadowChecks[M comparable, F any](c *calibrator, compare func(M, []F) ([]fidelity.Tally, bool, error), safe func() error) *shadowChecks[M, F] {
	s := &shadowChecks[M, F]{c: c, compare: compare, safe: safe,
		trigger: newShadowTrigger(c.opts.Shadow, time.Now()), window: newAgreementWindow(c.opts.Shadow.Window)}
	c.done = false
	c.passed = s.restart
	return s
}

// due says whether the frame a model has just run on is to be kept for a check (nil: no
// shadow checks); when true, keep must follow.
func (s *shadowChecks[M, F]) due() bool { return s != nil && s.trigger.frame(time.Now()) }

// restart starts the running agreement afresh on the model swapped in (the calibrator's
// passed; c.mu held).
func (s *shadowChecks[M, F]) restart() {
	s.c.done = false
	s.window.reset()
	s.trigger.last.Store(time.Now().UnixNano())
}

// keep keeps the frame m has just run on (made by frame, which copies what it keeps) for the
// next batch, and checks the batch in the background once it is full.
func (s *shadowChecks[M, F]) keep(m M, frame func() (F, error)) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() != nil || c.status.State != calCalibrated {
		s.trigger.done()
		return
	}
	f, err := frame()
	if err != nil {
		c.log.Warn("shadow checks: a frame not kept", "model", c.field, "err", err)
		s.trigger.done()
		return
	}
	if s.keptBy != m { // frames of a model swapped out say nothing of this one
		s.kept, s.keptBy = s.kept[:0], m
	}
	s.kept = append(s.kept, f)
	if len(s.kept) < c.opts.Shadow.Batch {
		s.trigger.done()
		return
	}
	batch := s.kept
	var none M
	s.kept, s.keptBy = nil, none
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer s.trigger.done()
		s.check(m, batch)
	}()
}

// check compares the safe model with m on a batch of frames, adds them to the running
// agreement, and falls back to the safe model when the agreement fails.
func (s *shadowChecks[M, F]) check(m M, batch []F) {
	c := s.c
	// The safe model is loaded beside the full-int8 one: a batch that does not fit beside
	// what is loaded now is dropped (the next one asks again).
	release, wait := c.memory.shadowBatch(s, s.convertsSafe != nil && s.convertsSafe(), nil)
	var tallies []fidelity.Tally
	var stale bool
	err := errWaitingForMemory
	if wait == nil {
		tallies, stale, err = s.compare(m, batch)
		release()
	}
	if stale {
		return
	}
	c.mu.Lock()
	if c.ctx.Err() != nil || c.status.State != calCalibrated {
		c.mu.Unlock()
		return
	}
	if c.status.Shadow == nil {
		c.status.Shadow = &ShadowStatus{}
	}
	sh := c.status.Shadow
	if wait != nil {
		sh.MemoryDrops++
		if sh.Error != err.Error() {
			c.log.Warn("shadow checks: a batch dropped, waiting for memory: the safe model does not fit beside what is loaded now; the next batch asks again",
				wait.logAttrs(c.field)...)
		}
		sh.Error = err.Error()
		c.reportLocked()
		c.mu.Unlock()
		return
	}
	if err != nil {
		if sh.Error != err.Error() {
			c.log.Error("shadow checks: the safe model could not check the full-int8 one; "+c.task+" stays at int8", "model", c.field, "err", err)
		}
		sh.Error = err.Error()
		c.reportLocked()
		c.mu.Unlock()
		return
	}
	sh.Error = ""
	failed := false
	var r fidelity.Report
	for _, t := range tallies {
		sh.Checks++
		s.window.add(t)
		var full bool
		if r, full = s.window.judge(c.opts.Thresholds); full && !r.Passed {
			failed = true // the agreement failed at this frame of the batch
			break
		}
	}
	s.window.status(sh, c.opts.Thresholds)
	c.reportLocked()
	c.mu.Unlock()
	if failed {
		s.fallBack(r)
	}
}

// msgFallBack is logged when the running agreement fails and the safe model takes over.
const msgFallBack = "shadow checks: the full-int8 model no longer agrees with the safe one"

// fallBack makes the safe model run at once and starts calibrating again: the reservoir has
// kept refreshing, and the conversion starts once it is ready.
func (s *shadowChecks[M, F]) fallBack(r fidelity.Report) {
	c := s.c
	err := s.safe()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() != nil {
		return
	}
	if err != nil {
		c.status.Shadow.Error = "falling back to the safe model: " + err.Error()
		c.reportLocked()
		c.log.Error("shadow checks: the full-int8 model no longer agrees with the safe one, which could not be loaded; "+c.task+" stays at int8",
			"model", c.field, "agreement", fidelity.Why(r), "err", err)
		return
	}
	c.status.State, c.status.Gate = calCollecting, ""
	c.status.Shadow.Fallbacks++
	c.status.Shadow.FellBack = fidelity.Why(r)
	c.notBefore = time.Time{}
	s.window.reset()
	s.window.status(c.status.Shadow, c.opts.Thresholds)
	c.nextLook.Store(0)
	c.reportLocked() // before the line: whoever sees it finds /healthz up to date
	args := []any{"model", c.field, "agreement", fidelity.Why(r), "checks", r.Frames,
		"mean_cosine", fmt.Sprintf("%.4f", r.MeanCosine), "worst_cosine", fmt.Sprintf("%.4f", r.WorstCosine)}
	if r.Top1Compared > 0 {
		args = append(args, "top1_agreement", fmt.Sprintf("%.3f", r.Top1Agreement))
	}
	if r.TextCompared > 0 {
		args = append(args, "text_agreement", fmt.Sprintf("%.3f", r.TextAgreement))
	}
	c.log.Warn(msgFallBack+"; "+c.task+" at the safe precision and calibrating again on the cameras' frames", args...)
}
