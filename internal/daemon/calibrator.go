package daemon

import (
	"context"
	"fmt"
	"image"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/fidelity"
)

// calibrator is calibrating on the cameras' frames as every model does it (CLIP's
// calibratingLabeler, BLIP's calibratingBLIP): it keeps frames in the reservoir, starts a
// conversion once there are enough, and on a model that passed the gate publishes it into the
// cache and has the model's owner install it; the status goes to /healthz and the metrics
// through report. What differs by model is in the hooks: what the gate compares on, how a
// passed bundle is loaded and swapped in, what happens after the swap.
type calibrator struct {
	field string // models.<field>, in the log
	task  string // what the model does, in the log: "labelling", "captioning", "answering"

	opts    CalibrationOptions
	res     *Reservoir
	run     calibrationRun
	publish func(tmp string, res *Reservoir) (*bundle.Bundle, error) // moves a passed bundle into the cache
	report  func(precision string, s CalibrationStatus)
	memory  *memoryGate // the budget a conversion and a shadow batch ask for their memory (nil: none)
	log     *slog.Logger
	// The safe bundles the gate compares with (gateReference): the cache's bundle of the
	// model while it is the safe one, and the one beside it once a full-int8 bundle has taken
	// its place; "" the float model, converted in the child. startedCalibrated: the cache's
	// bundle was full int8 at the start.
	safeInCache, safeBeside string
	startedCalibrated       bool

	// gateInputs says what the gate compares on, or (a non-empty string) why a ready
	// reservoir does not convert yet; install loads a passed bundle and makes it the model;
	// passed runs after a swap. gateInputs and passed are called with mu held.
	gateInputs func() (gateInputs, string)
	install    func(b *bundle.Bundle) error
	passed     func()

	// nextLook is when the reservoir considers a frame next (Unix nanoseconds): frames before
	// it cost the model's calls no lock.
	nextLook atomic.Int64

	mu        sync.Mutex
	status    CalibrationStatus
	notBefore time.Time
	done      bool // calibrated and nothing watches it: no more frames, no conversions

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// gateInputs are what a conversion's gate compares the models on besides the frames.
type gateInputs struct {
	// LabelSets are the label sets' files whose top-1 labels CLIP must keep.
	LabelSets []string
	// Questions a VQA model must answer the same (nil: fidelity.DefaultQuestions).
	Questions  []string
	Thresholds fidelity.Thresholds
	// TextFrames: frames whose greedy captions or answers are compared (BLIP).
	TextFrames int
	// Reference is the bundle the gate compares with ("": the float model, converted).
	Reference string
	// Text calibrates the models that see text too, on the label sets or the questions
	// above (CLIP) or the float model's own captions or answers (BLIP).
	Text bool
}

// initCalibrator sets c up for field's model, the safe one (calibrated false) or a full-int8
// one, and reports its status.
func (c *calibrator) initCalibrator(field, task string, calibrated bool, p calibrationParts, opts CalibrationOptions, log *slog.Logger) {
	c.field, c.task, c.opts, c.log = field, task, opts.withDefaults(), log
	c.res, c.run, c.publish, c.report, c.memory = p.res, p.run, p.publish, p.report, p.memory
	c.safeInCache, c.safeBeside, c.startedCalibrated = p.safeInCache, p.safeBeside, calibrated
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.status = CalibrationStatus{State: calCollecting, MinFrames: c.opts.MinFrames, MinSpanS: c.opts.MinSpan.Seconds()}
	if calibrated {
		c.status.State = calCalibrated
		c.done = true
	}
}

// gateReference is the safe bundle the gate compares a new model with (c.mu held): the
// cache's until a full-int8 bundle takes its place there; then the safe bundle beside it,
// which shadow checks prepare before a fallback, so before a recalibration. Comparing with
// the safe model rather than the float one, the child converts nothing but the candidate (a
// float reference cost CLIP B/32's child 1.5 GiB rather than 1.1, BLIP base's 2.6 rather than
// 1.8), and the gate judges what calibrating changed.
func (c *calibrator) gateReference() string {
	if c.startedCalibrated || (c.status.Shadow != nil && c.status.Shadow.Fallbacks > 0) {
		return c.safeBeside
	}
	return c.safeInCache
}

// reportLocked hands the status on; the caller holds mu.
func (c *calibrator) reportLocked() {
	s := c.res.State()
	if !c.done {
		c.status.Frames, c.status.SpanS = s.Calibration+s.Check, s.Span.Seconds()
	}
	precision := convert.SafePrecision.String()
	if c.status.State == calCalibrated {
		precision = precisionInt8
	}
	st := c.status
	if st.Shadow != nil {
		shadow := *st.Shadow
		st.Shadow = &shadow
	}
	c.report(precision, st)
}

// see offers img, a frame the model has just run on, to the reservoir when its time has
// come: most frames take no lock.
func (c *calibrator) see(img image.Image) {
	if now := time.Now(); now.UnixNano() >= c.nextLook.Load() {
		c.offer(now, img)
	}
}

// offer keeps img in the reservoir (if its time has come) and starts a conversion once the
// reservoir is ready.
func (c *calibrator) offer(now time.Time, img image.Image) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done || c.ctx.Err() != nil {
		c.nextLook.Store(math.MaxInt64)
		return
	}
	c.nextLook.Store(now.Add(c.opts.Reservoir.Every).UnixNano())
	kept, err := c.res.Offer(now, img)
	if err != nil {
		c.log.Warn("calibration: frame not kept", "model", c.field, "err", err)
	}
	if !c.startLocked(now) && kept {
		c.reportLocked()
	}
}

// startLocked starts a conversion if the reservoir is ready and its memory fits beside what
// is loaded now; else, when memory is what it lacks, the calibration waits for memory (woken
// when some is freed, or by the next frame kept). Whether it reported the status; c.mu is held.
func (c *calibrator) startLocked(now time.Time) (reported bool) {
	if c.status.State == calConverting || c.status.State == calCalibrated || now.Before(c.notBefore) ||
		!c.res.Ready(c.opts.MinFrames, c.opts.MinSpan) {
		return false
	}
	in, notYet := c.gateInputs()
	if notYet != "" {
		if c.status.Error != notYet {
			c.status.Error = notYet
			c.reportLocked()
			return true
		}
		return false
	}
	release, wait := c.memory.conversion(c, c.memoryFreed)
	if wait != nil {
		return c.waitForMemoryLocked(wait)
	}
	in.Thresholds, in.TextFrames, in.Reference, in.Text = c.opts.Thresholds, c.opts.TextFrames, c.gateReference(), c.opts.Text
	c.status.State, c.status.Error, c.status.Memory = calConverting, "", nil
	c.status.Conversions++
	c.reportLocked()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer release() // after the swap too: the new model loads beside the old one
		c.convert(in)
	}()
	return true
}

// waitForMemoryLocked puts the calibration in waiting_for_memory with the figures of wait,
// logging once per wait (not per try); c.mu is held.
func (c *calibrator) waitForMemoryLocked(wait *MemoryWait) (reported bool) {
	first := c.status.State != calWaitingMemory
	if !first && *c.status.Memory == *wait {
		return false
	}
	c.status.State, c.status.Memory = calWaitingMemory, wait
	c.reportLocked()
	if first {
		c.log.Warn("calibration: waiting for memory: the conversion to full int8 does not fit beside what is loaded now; "+
			"it starts when a model is unloaded when idle, another conversion ends, or new frames are kept",
			wait.logAttrs(c.field)...)
	}
	return true
}

// memoryFreed tries the waiting conversion again (the budget's wake).
func (c *calibrator) memoryFreed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done || c.ctx.Err() != nil || c.status.State != calWaitingMemory {
		return
	}
	c.startLocked(time.Now())
}

// convert runs one conversion on a copy of the reservoir's frames and swaps the model in if
// it passed. The status is reported before the verdict is logged: whoever sees the line finds
// /healthz up to date.
func (c *calibrator) convert(in gateInputs) {
	st := c.res.State()
	about := []any{"calibration_frames", st.Calibration, "check_frames", st.Check, "span", st.Span.Round(time.Second)}
	if len(in.Questions) > 0 { // what a VQA model's gate asks: the standing questions of now
		about = append(about, "questions", strings.Join(in.Questions, " | "))
	}
	c.log.Info(fmt.Sprintf("calibration: converting models.%s to full int8 on the cameras' frames, at low priority; %s continues at the safe precision", c.field, c.task),
		about...)
	tmp, report, err := c.run(c.ctx, c.res, in)
	if tmp != "" {
		defer os.RemoveAll(tmp)
	}
	if err == nil && report.Passed {
		err = c.swapIn(tmp)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.ctx.Err() != nil:
		return // stopping
	case err != nil:
		c.status.State, c.status.Error = calFailed, err.Error()
		c.status.Failed++
		c.notBefore = time.Now().Add(c.opts.Retry)
		c.reportLocked()
		c.log.Error("calibration: the full-int8 conversion failed; "+c.task+" stays at the safe precision", "model", c.field,
			"retry_in", c.opts.Retry, "err", err)
	case !report.Passed:
		c.status.State, c.status.Gate, c.status.Check = calRefused, fidelity.Why(*report), report
		c.status.Refused++
		c.notBefore = time.Now().Add(c.opts.Retry)
		c.reportLocked()
		c.log.Warn("calibration: the fidelity gate refused full int8 calibrated on the cameras' frames; "+c.task+" stays at the safe precision",
			"model", c.field, "gate", c.status.Gate, "retry_in", c.opts.Retry)
	default:
		c.status.State, c.status.Gate, c.status.Error, c.status.Check = calCalibrated, fidelity.Why(*report), "", report
		c.done = true
		if c.passed != nil {
			c.passed()
		}
		args := []any{"model", c.field, "precision", precisionInt8, "frames", report.Frames,
			"mean_cosine", fmt.Sprintf("%.4f", report.MeanCosine), "worst_cosine", fmt.Sprintf("%.4f", report.WorstCosine)}
		if report.Top1Compared > 0 {
			args = append(args, "top1_agreement", fmt.Sprintf("%.3f", report.Top1Agreement))
		}
		if report.TextCompared > 0 {
			args = append(args, "text_agreement", fmt.Sprintf("%d/%d", int(math.Round(report.TextAgreement*float64(report.TextCompared))), report.TextCompared))
		}
		c.reportLocked()
		c.log.Info(msgCalibrated+"; "+c.task+" with it", args...)
	}
}

// msgCalibrated is logged when the camera-calibrated model replaces the safe one.
const msgCalibrated = "calibration: full int8 calibrated on the cameras' frames passed the fidelity gate"

// swapIn makes the passed bundle in tmp the model's: into the cache in place of the safe one
// (a restart loads it without converting again; the reservoir's frames carried over), then
// into the running daemon.
func (c *calibrator) swapIn(tmp string) error {
	b, err := c.publish(tmp, c.res)
	if err != nil {
		return err
	}
	return c.install(b)
}

// stop stops a running conversion (its child process is killed) and waits for it.
func (c *calibrator) stop() {
	c.cancel()
	c.wg.Wait()
}

// hotSwap holds the model calls run on, swapped under a write lock: every call runs wholly on
// one model, and the model swapped out is closed once the calls on it are done.
type hotSwap[M interface{ close() error }] struct {
	swap   sync.RWMutex
	active M
}

// model is the model to run on now, read-locked: the caller calls swap.RUnlock when done with
// it (a method value would cost an allocation per call).
func (h *hotSwap[M]) model() M {
	h.swap.RLock()
	return h.active
}

// with runs f on the model, read-locked.
func (h *hotSwap[M]) with(f func(M) error) error {
	m := h.model()
	defer h.swap.RUnlock()
	return f(m)
}

// exchange makes next the model, once the calls on the old one are done; the old one is the
// caller's to close.
func (h *hotSwap[M]) exchange(next M) (old M) {
	h.swap.Lock()
	defer h.swap.Unlock()
	old, h.active = h.active, next
	return old
}

// closeActive closes the model, once the calls on it are done.
func (h *hotSwap[M]) closeActive() error {
	h.swap.Lock()
	defer h.swap.Unlock()
	return h.active.close()
}
