package camera

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Source is one camera. Run captures until its context ends; Frames hands over the latest
// frame. A Source is safe for concurrent use, but Run may be called only once.
type Source interface {
	// Name is the camera's name from its Spec.
	Name() string
	// Run opens the source and captures frames into Frames until ctx ends, reopening it with
	// backoff whenever it fails. It returns nil when ctx ends, or earlier when a file or
	// folder without Loop has been played to its end; either way it closes Frames.
	// A read blocked inside OpenCV (a stalled stream) finishes before Run notices ctx; the
	// backend's own timeout bounds that wait.
	Run(ctx context.Context) error
	// Frames holds at most one frame, the newest unread one: a new frame replaces an unread
	// one (counted in Stats.Dropped). Receiving a frame makes the receiver its holder (see
	// Frame.Release). The channel is closed when Run returns.
	Frames() <-chan *Frame
	// Stats is a snapshot of the source's counters and state.
	Stats() Stats
}

// State is what a source is doing.
type State string

// The states of a source, as Stats reports them.
const (
	StateIdle     State = "idle"     // Run has not been called
	StateOpening  State = "opening"  // opening, or opened and waiting for the first frame
	StateRunning  State = "running"  // delivering frames
	StateRetrying State = "retrying" // failed; waiting to reopen
	StateEnded    State = "ended"    // a file or folder without Loop played to its end
	StateStopped  State = "stopped"  // Run returned because its context ended
)

// Stats are a source's counters since it was made, for metrics and health checks.
type Stats struct {
	State State
	// Captured counts frames delivered to Frames.
	Captured uint64
	// Dropped counts delivered frames that a newer one replaced before anyone read them.
	Dropped uint64
	// Errors counts failures: opens and reads that failed, and images or frames skipped.
	Errors uint64
	// Reconnects counts attempts to reopen the source after a failure.
	Reconnects uint64
	// Rejected counts frames refused for being over the size limit (also in Errors).
	Rejected uint64
	// LastError is the latest failure, naming the camera; nil if there was none.
	LastError   error
	LastErrorAt time.Time
	LastFrameAt time.Time
}

// capturer is one kind of source. A session opens it, delivers frames to out until ctx ends
// or something fails, closes what it opened and says why it stopped: ctx's error, errEnded
// for a finite source that is done, or the failure (which Run retries).
type capturer interface {
	session(ctx context.Context, out *source) error
}

// errEnded is a session's way to say that a file or folder without Loop is done.
var errEnded = errors.New("end of source")

// New makes the source spec describes. Defaults are filled in first; an error is a
// *SpecError naming the field. Nothing is opened until Run.
func New(spec Spec, opts Options) (Source, error) {
	opts = opts.withDefaults()
	spec = spec.withDefaults()
	if err := spec.validate(opts); err != nil {
		return nil, err
	}
	var c capturer
	switch spec.Kind {
	case KindDevice, KindStream, KindFile:
		c = newVideoCapturer(spec)
	case KindFolder:
		c = &folderCapturer{dir: spec.Path, loop: spec.Loop, interval: interval(spec.FPS)}
	case KindSynthetic:
		c = newSyntheticCapturer(spec)
	}
	return newSource(spec, opts, c), nil
}

// interval turns a frame rate into the time between frames; 0 means no limit.
func interval(fps float64) time.Duration {
	if fps <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / fps)
}

// source is the part every kind shares: the retry loop, the hand-over slot, the buffer
// pool and the counters.
type source struct {
	spec Spec
	opts Options
	cap  capturer
	log  *slog.Logger
	slot *slot
	pool *framePool

	started atomic.Bool
	seq     uint64 // touched only by Run's goroutine

	captured, dropped, errs, reconnects, rejected atomic.Uint64

	mu          sync.Mutex
	state       State
	lastErr     error
	lastErrAt   time.Time
	lastFrameAt time.Time
}

func newSource(spec Spec, opts Options, c capturer) *source {
	return &source{
		spec:  spec,
		opts:  opts,
		cap:   c,
		log:   opts.Logger.With("camera", spec.Name, "kind", spec.Kind, "source", spec.describe()),
		slot:  newSlot(),
		pool:  newFramePool(opts.PoolSize),
		state: StateIdle,
	}
}

func (s *source) Name() string          { return s.spec.Name }
func (s *source) Frames() <-chan *Frame { return s.slot.ch }

func (s *source) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		State:       s.state,
		Captured:    s.captured.Load(),
		Dropped:     s.dropped.Load(),
		Errors:      s.errs.Load(),
		Reconnects:  s.reconnects.Load(),
		Rejected:    s.rejected.Load(),
		LastError:   s.lastErr,
		LastErrorAt: s.lastErrAt,
		LastFrameAt: s.lastFrameAt,
	}
}

func (s *source) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return fmt.Errorf("camera %q: Run called twice", s.spec.Name)
	}
	defer s.slot.close()
	wait := s.opts.Backoff.Initial
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			s.reconnects.Add(1)
			s.log.Info("camera reopening", "attempt", attempt)
		}
		s.setState(StateOpening)
		before := s.captured.Load()
		err := s.cap.session(ctx, s)
		switch {
		case ctx.Err() != nil:
			s.setState(StateStopped)
			return nil
		case errors.Is(err, errEnded):
			s.setState(StateEnded)
			s.log.Info("camera reached the end of its source")
			return nil
		case err == nil: // sessions must say why they stopped; treat silence as a failure
			err = errors.New("stopped without a reason")
		}
		if s.captured.Load() > before {
			wait = s.opts.Backoff.Initial // it worked for a while: a fresh failure
		}
		s.problem(err, "retry_in", wait)
		s.setState(StateRetrying)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			s.setState(StateStopped)
			return nil
		case <-t.C:
		}
		wait = min(time.Duration(float64(wait)*s.opts.Backoff.Factor), s.opts.Backoff.Max)
	}
}

func (s *source) setState(st State) {
	s.mu.Lock()
	s.state = st
	s.mu.Unlock()
}

// problem records and logs a failure; err is wrapped with the camera's name.
func (s *source) problem(err error, logArgs ...any) {
	err = fmt.Errorf("camera %q: %w", s.spec.Name, err)
	s.errs.Add(1)
	s.mu.Lock()
	s.lastErr = err
	s.lastErrAt = time.Now()
	s.mu.Unlock()
	s.log.Warn("camera failure", append([]any{"err", err}, logArgs...)...)
}

// FrameSizeError is a frame over Options.MaxPixels.
type FrameSizeError struct {
	Width, Height, MaxPixels int
}

func (e *FrameSizeError) Error() string {
	return fmt.Sprintf("frame %dx%d is over the limit of %d pixels (Options.MaxPixels)", e.Width, e.Height, e.MaxPixels)
}

// checkSize refuses (and counts) a frame over the size limit or with no pixels.
func (s *source) checkSize(w, h int) error {
	if w <= 0 || h <= 0 {
		s.rejected.Add(1)
		return fmt.Errorf("frame %dx%d has no pixels", w, h)
	}
	if int64(w)*int64(h) > int64(s.opts.MaxPixels) {
		s.rejected.Add(1)
		return &FrameSizeError{Width: w, Height: h, MaxPixels: s.opts.MaxPixels}
	}
	return nil
}

// buffer returns a w×h picture to capture into: one no consumer holds.
func (s *source) buffer(w, h int) (*image.RGBA, error) {
	if err := s.checkSize(w, h); err != nil {
		return nil, err
	}
	return s.pool.get(w, h), nil
}

// deliver numbers f, makes it the latest frame and counts it. f.Image should come from
// buffer (it returns to the pool once released) unless pooled is false.
func (s *source) deliver(f *Frame, pooled bool) {
	s.seq++
	f.Camera = s.spec.Name
	f.Seq = s.seq
	if pooled {
		f.pool = s.pool
	}
	f.refs.Store(1)
	s.captured.Add(1)
	if s.slot.put(f) {
		s.dropped.Add(1)
	}
	s.mu.Lock()
	s.state = StateRunning
	s.lastFrameAt = f.Time
	s.mu.Unlock()
}

// sleep waits d or until ctx ends, and reports whether the whole wait happened.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
