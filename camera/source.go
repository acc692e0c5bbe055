package camera

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"math/rand/v2"
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
	// backoff whenever it fails or stalls. It returns nil when ctx ends, or earlier when a
	// file or folder without Loop has been played to its end; either way it closes Frames.
	// A read blocked inside OpenCV past the source's ReadTimeout is left to finish on its own
	// (its frame is never delivered) while the source reconnects.
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
	StateIdle       State = "idle"       // Run has not been called
	StateConnecting State = "connecting" // opening, or opened and waiting for the first frame
	StateStreaming  State = "streaming"  // delivering frames
	StateStalled    State = "stalled"    // sent nothing for ReadTimeout without closing; reconnecting
	StateFailed     State = "failed"     // could not connect, or lost the connection; reconnecting
	StateEnded      State = "ended"      // a file or folder without Loop played to its end
	StateStopped    State = "stopped"    // Run returned because its context ended
)

// Stats are a source's counters since it was made, for metrics and health checks.
type Stats struct {
	State State
	// Since is when the source entered State.
	Since time.Time
	// Captured counts frames delivered to Frames.
	Captured uint64
	// Dropped counts delivered frames that a newer one replaced before anyone read them.
	Dropped uint64
	// Errors counts failures: connections that failed or stalled, images or frames skipped.
	Errors uint64
	// Reconnects counts attempts to reopen the source after a failure or a stall.
	Reconnects uint64
	// Stalls counts connections that stopped sending without closing.
	Stalls uint64
	// Rejected counts frames refused for being over the size limit (also in Errors).
	Rejected uint64
	// LastError is the latest failure, naming the camera; nil if there was none.
	LastError   error
	LastErrorAt time.Time
	// LastFrameAt is the capture time of the newest frame delivered.
	LastFrameAt time.Time
}

// capturer is one kind of source. A session opens it, delivers frames to out until ctx ends
// or something fails, closes what it opened and says why it stopped: ctx's error, errEnded
// for a finite source that is done, a *stallError, or the failure (which Run retries).
type capturer interface {
	session(ctx context.Context, out *feed) error
}

// errEnded is a session's way to say that a file or folder without Loop is done.
var errEnded = errors.New("end of source")

// stallError is a session's (or the watchdog's) way to say that the source sent nothing for
// too long without closing.
type stallError struct{ msg string }

func (e *stallError) Error() string { return e.msg }

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
	case KindDevice, KindStream, KindFile, KindGStreamer:
		c = newVideoCapturer(spec)
	case KindMJPEG:
		c = newMJPEGCapturer(spec)
	case KindSnapshot:
		c = newSnapshotCapturer(spec)
	case KindFolder:
		c = &folderCapturer{dir: spec.Path, loop: spec.Loop, interval: interval(spec.FPS)}
	case KindSynthetic:
		c = newSyntheticCapturer(spec)
	}
	return newSource(spec, opts, c), nil
}

// Check reports the first field of spec that cannot work (a *SpecError), as New would,
// without making a source: for validating a configuration before anything starts.
func Check(spec Spec, opts Options) error {
	return spec.withDefaults().validate(opts.withDefaults())
}

// interval turns a frame rate into the time between frames; 0 means no limit.
func interval(fps float64) time.Duration {
	if fps <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / fps)
}

// maxBlocked is how many reads stuck inside native code past the watchdog a source may leave
// behind; with more it waits for one to return before reconnecting, so that a source that
// never returns cannot pile up connections.
const maxBlocked = 2

// blockedGrace is how long the watchdog waits for a given-up session to return before
// leaving it behind.
const blockedGrace = 2 * time.Second

// source is the part every kind shares: the reconnect loop, the stall watchdog, the
// hand-over slot, the buffer pool, the counters and the state.
type source struct {
	spec Spec
	opts Options
	cap  capturer
	log  *slog.Logger
	slot *slot
	pool *framePool

	started atomic.Bool

	// deliverMu orders deliveries: a session given up by the watchdog cannot deliver once
	// the watchdog has passed through it.
	deliverMu sync.Mutex
	seq       uint64

	captured, dropped, errs, reconnects, rejected, stalls atomic.Uint64

	blocked     atomic.Int32
	blockedDone chan struct{}

	mu          sync.Mutex
	state       State
	since       time.Time
	logged      State     // the last state a log line announced
	downSince   time.Time // when the source last stopped streaming
	lastErr     error
	lastErrAt   time.Time
	lastFrameAt time.Time
}

func newSource(spec Spec, opts Options, c capturer) *source {
	return &source{
		spec:        spec,
		opts:        opts,
		cap:         c,
		log:         opts.Logger.With("camera", spec.Name, "kind", spec.Kind, "source", spec.describe()),
		slot:        newSlot(),
		pool:        newFramePool(opts.PoolSize),
		state:       StateIdle,
		since:       time.Now(),
		blockedDone: make(chan struct{}, 1),
	}
}

func (s *source) Name() string          { return s.spec.Name }
func (s *source) Frames() <-chan *Frame { return s.slot.ch }

func (s *source) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statsLocked()
}

func (s *source) statsLocked() Stats {
	return Stats{
		State:       s.state,
		Since:       s.since,
		Captured:    s.captured.Load(),
		Dropped:     s.dropped.Load(),
		Errors:      s.errs.Load(),
		Reconnects:  s.reconnects.Load(),
		Stalls:      s.stalls.Load(),
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
	s.mu.Lock()
	s.downSince = time.Now()
	s.mu.Unlock()
	wait := s.opts.Backoff.Initial
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			s.reconnects.Add(1)
		}
		if !s.awaitBlocked(ctx) {
			s.setState(StateStopped, nil)
			return nil
		}
		s.setState(StateConnecting, nil, "attempt", attempt+1)
		frames, err := s.runSession(ctx)
		switch {
		case ctx.Err() != nil:
			s.setState(StateStopped, nil)
			return nil
		case errors.Is(err, errEnded):
			s.setState(StateEnded, nil)
			return nil
		case err == nil: // sessions must say why they stopped; treat silence as a failure
			err = errors.New("stopped without a reason")
		}
		if frames > 0 {
			wait = s.opts.Backoff.Initial // it worked for a while: a fresh failure
		}
		next := StateFailed
		var stall *stallError
		if errors.As(err, &stall) && frames > 0 {
			next = StateStalled
			s.stalls.Add(1)
		}
		retryIn := jitter(wait)
		err = s.record(err)
		s.log.Debug("camera retrying", "err", err, "retry_in", retryIn)
		s.setState(next, err, "retry_in", retryIn.Round(time.Millisecond))
		t := time.NewTimer(retryIn)
		select {
		case <-ctx.Done():
			t.Stop()
			s.setState(StateStopped, nil)
			return nil
		case <-t.C:
		}
		wait = min(time.Duration(float64(wait)*s.opts.Backoff.Factor), s.opts.Backoff.Max)
	}
}

// jitter moves d by up to ±20% at random.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// runSession runs one session of the capturer under the stall watchdog and returns how many
// frames it delivered and why it ended. A live source (ReadTimeout > 0) that delivers
// nothing for ReadTimeout (twice that before its first frame) is given up: its context is
// cancelled, and a session blocked in native code is left behind to finish on its own.
func (s *source) runSession(ctx context.Context) (uint64, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := &feed{source: s, ctx: sctx, started: time.Now()}
	f.markAlive()
	done := make(chan error, 1)
	go func() { done <- s.cap.session(sctx, f) }()

	if s.spec.ReadTimeout > 0 {
		watchdog := time.NewTimer(time.Until(f.deadline()))
		defer watchdog.Stop()
		for {
			select {
			case err := <-done:
				return f.frames.Load(), err
			case <-ctx.Done():
				return f.frames.Load(), s.giveUp(cancel, done, ctx.Err())
			case <-watchdog.C:
				if left := time.Until(f.deadline()); left > 0 {
					watchdog.Reset(left)
					continue
				}
				return f.frames.Load(), s.giveUp(cancel, done, f.stalled())
			}
		}
	}
	err := <-done
	return f.frames.Load(), err
}

// giveUp ends a session from outside: it cancels its context, makes sure it delivers nothing
// more, and waits a little for it to return before leaving it behind. It returns why.
func (s *source) giveUp(cancel context.CancelFunc, done <-chan error, why error) error {
	cancel()
	s.deliverMu.Lock() // a delivery in progress finishes; later ones see the cancelled context
	s.deliverMu.Unlock()
	t := time.NewTimer(blockedGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.blocked.Add(1)
		s.log.Debug("camera read still blocked in native code; reconnecting beside it")
		go func() {
			<-done
			s.blocked.Add(-1)
			select {
			case s.blockedDone <- struct{}{}:
			default:
			}
		}()
	}
	return why
}

// awaitBlocked waits until fewer than maxBlocked sessions are left behind; false if ctx
// ended first.
func (s *source) awaitBlocked(ctx context.Context) bool {
	for s.blocked.Load() >= maxBlocked {
		select {
		case <-ctx.Done():
			return false
		case <-s.blockedDone:
		}
	}
	return true
}

// setState moves the source to st. A log line says so when what a user would see changes:
// streaming, stalled, failed (once per outage, not per retry), ended; connecting is only a
// debug line. StateChanged hears of every change.
func (s *source) setState(st State, err error, logArgs ...any) {
	s.mu.Lock()
	prev := s.state
	if prev == st {
		s.mu.Unlock()
		return
	}
	now := time.Now()
	s.state, s.since = st, now
	if prev == StateStreaming {
		s.downSince = now
	}
	down := now.Sub(s.downSince)
	announce := st != StateConnecting && st != s.logged
	if announce {
		s.logged = st
	}
	stats := s.statsLocked()
	s.mu.Unlock()

	if announce {
		switch st {
		case StateStreaming:
			s.log.Info("camera streaming", append([]any{"reconnects", stats.Reconnects, "after", down.Round(time.Millisecond)}, logArgs...)...)
		case StateStalled:
			s.log.Warn("camera stalled", append([]any{"err", err}, logArgs...)...)
		case StateFailed:
			s.log.Warn("camera failed", append([]any{"err", err}, logArgs...)...)
		case StateEnded:
			s.log.Info("camera reached the end of its source")
		case StateStopped:
			s.log.Debug("camera stopped")
		}
	} else if st == StateConnecting {
		s.log.Debug("camera connecting", logArgs...)
	}
	if s.opts.StateChanged != nil {
		s.opts.StateChanged(s.spec.Name, stats)
	}
}

// record counts a failure and keeps it as the last error, wrapped with the camera's name.
func (s *source) record(err error) error {
	err = fmt.Errorf("camera %q: %w", s.spec.Name, err)
	s.errs.Add(1)
	s.mu.Lock()
	s.lastErr = err
	s.lastErrAt = time.Now()
	s.mu.Unlock()
	return err
}

// skipped records and logs a failure that does not end the session, such as one bad image
// of a folder.
func (s *source) skipped(err error) {
	s.log.Warn("camera skipped a picture", "err", s.record(err))
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

// feed is one session's way to its source. It keeps the session's signs of life for the
// watchdog, and drops what the session delivers after it was given up: a frame that arrives
// after its session was declared stalled is never shown as current.
type feed struct {
	*source
	ctx     context.Context
	started time.Time
	note    string       // what the session opened, for the log line when it starts streaming
	alive   atomic.Int64 // unix nanoseconds of the last frame read from the source
	quiet   atomic.Int64 // unix nanoseconds until which the session waits on purpose
	frames  atomic.Uint64
}

// markAlive tells the watchdog that the source just sent a frame (delivered or not).
func (f *feed) markAlive() { f.alive.Store(time.Now().UnixNano()) }

// quietUntil tells the watchdog that the session will not read before t (a snapshot source
// waiting for its next fetch).
func (f *feed) quietUntil(t time.Time) { f.quiet.Store(t.UnixNano()) }

// deadline is when the watchdog gives the session up unless it shows a sign of life: twice
// ReadTimeout after it started until its first frame, then ReadTimeout after the last sign
// of life or the end of a quiet time.
func (f *feed) deadline() time.Time {
	if f.frames.Load() == 0 {
		return f.started.Add(2 * f.spec.ReadTimeout)
	}
	return time.Unix(0, max(f.alive.Load(), f.quiet.Load())).Add(f.spec.ReadTimeout)
}

// stalled says why the watchdog gave the session up.
func (f *feed) stalled() error {
	if f.frames.Load() == 0 {
		return &stallError{fmt.Sprintf("no frame within %v of connecting (read_timeout %v)", 2*f.spec.ReadTimeout, f.spec.ReadTimeout)}
	}
	return &stallError{fmt.Sprintf("stalled: no frame for %v (read_timeout)", f.spec.ReadTimeout)}
}

// deliver numbers fr, makes it the latest frame and counts it. fr.Image should come from
// buffer (it returns to the pool once released) unless pooled is false. A session that was
// given up delivers nothing.
func (f *feed) deliver(fr *Frame, pooled bool) {
	s := f.source
	s.deliverMu.Lock()
	if f.ctx.Err() != nil {
		s.deliverMu.Unlock()
		if pooled {
			s.pool.put(fr.Image)
		}
		return
	}
	f.markAlive()
	s.seq++
	fr.Camera = s.spec.Name
	fr.Seq = s.seq
	if pooled {
		fr.pool = s.pool
	}
	fr.refs.Store(1)
	s.captured.Add(1)
	s.mu.Lock()
	s.lastFrameAt = fr.Time
	s.mu.Unlock()
	if f.frames.Add(1) == 1 {
		// Streaming before the frame is seen: a reader of the frame finds the state current.
		b := fr.Image.Rect
		args := []any{"size", fmt.Sprintf("%dx%d", b.Dx(), b.Dy())}
		if f.note != "" {
			args = append(args, "opened", f.note)
		}
		s.setState(StateStreaming, nil, args...)
	}
	if s.slot.put(fr) {
		s.dropped.Add(1)
	}
	s.deliverMu.Unlock()
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
