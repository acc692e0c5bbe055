package camera

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"testing"
	"time"
)

func TestSlotKeepsOnlyTheLatestFrame(t *testing.T) {
	pool := newFramePool(4)
	s := newSlot()
	frames := make([]*Frame, 3)
	for i := range frames {
		frames[i] = &Frame{Seq: uint64(i + 1), Image: pool.get(2, 2), pool: pool}
		frames[i].refs.Store(1)
	}
	if s.put(frames[0]) {
		t.Fatal("the first frame replaced something")
	}
	if !s.put(frames[1]) || !s.put(frames[2]) {
		t.Fatal("frames put over unread ones did not count as replacing them")
	}
	if got := <-s.ch; got != frames[2] {
		t.Fatalf("read frame %d, want the latest (3)", got.Seq)
	}
	select {
	case f := <-s.ch:
		t.Fatalf("a second frame (%d) was waiting", f.Seq)
	default:
	}
	if len(pool.free) != 2 || pool.free[0] != frames[0].Image || pool.free[1] != frames[1].Image {
		t.Fatal("replaced frames did not give their buffers back")
	}
}

func TestReleaseReturnsTheBufferAfterTheLastHolder(t *testing.T) {
	pool := newFramePool(4)
	f := &Frame{Image: pool.get(3, 3), pool: pool}
	f.refs.Store(1)
	f.Retain() // a second worker
	f.Release()
	if len(pool.free) != 0 {
		t.Fatal("buffer reused while a holder remains")
	}
	f.Release()
	f.Release() // an extra call is ignored
	if len(pool.free) != 1 || pool.get(3, 3) != f.Image {
		t.Fatal("buffer not back in the pool exactly once")
	}
	if len(pool.free) != 0 {
		t.Fatal("buffer was in the pool twice")
	}
	if img := pool.get(4, 4); img.Rect != image.Rect(0, 0, 4, 4) {
		t.Fatalf("pool gave %v for 4x4", img.Rect)
	}
}

func TestCaptureNeverWaitsForASlowReader(t *testing.T) {
	src := start(t, mustNew(t, Spec{Name: "fast", Kind: KindSynthetic, Width: 32, Height: 32, FPS: 500}, Options{}))

	// Nobody reads: capture goes on regardless.
	waitFor(t, 10*time.Second, "20 frames captured with no reader", func() bool { return src.Stats().Captured >= 20 })
	first := next(t, src, time.Second)
	if first.Seq < 20 {
		t.Fatalf("read frame %d: want the latest, not an old one", first.Seq)
	}
	// A slow reader: each read waits until several frames went by, and gets the newest.
	received := 1
	prev := first
	for i := 0; i < 3; i++ {
		waitFor(t, 10*time.Second, "5 more frames", func() bool { return src.Stats().Captured >= prev.Seq+5 })
		f := next(t, src, time.Second)
		if f.Seq < prev.Seq+5 {
			t.Fatalf("read frame %d after %d had been captured", f.Seq, prev.Seq+5)
		}
		received++
		prev = f
	}
	if err := src.stop(t); err != nil {
		t.Fatal(err)
	}
	for range src.Frames() {
		received++
	}
	st := src.Stats()
	if uint64(received)+st.Dropped != st.Captured || st.Dropped < 20 {
		t.Fatalf("received %d + dropped %d != captured %d (or too few drops)", received, st.Dropped, st.Captured)
	}
}

// scriptedCapturer plays a list of session outcomes, for checking Run's retry policy. A
// true step delivers one frame and then fails.
type scriptedCapturer struct {
	steps []bool
	n     int
}

func (c *scriptedCapturer) session(ctx context.Context, out *feed) error {
	if c.n >= len(c.steps) {
		<-ctx.Done()
		return ctx.Err()
	}
	deliver := c.steps[c.n]
	c.n++
	if deliver {
		img, err := out.buffer(1, 1)
		if err != nil {
			return err
		}
		out.deliver(&Frame{Time: time.Now(), Image: img}, true)
	}
	return fmt.Errorf("session %d failed", c.n)
}

func TestBackoffDoublesToItsCapAndRestartsAfterSuccess(t *testing.T) {
	logs := &logRecorder{}
	opts := Options{Logger: slog.New(logs), Backoff: Backoff{Initial: time.Millisecond, Max: 4 * time.Millisecond}}.withDefaults()
	script := &scriptedCapturer{steps: []bool{false, false, false, false, true, false, false}}
	src := start(t, newSource(Spec{Name: "s", Kind: "scripted"}, opts, script))
	waitFor(t, 10*time.Second, "the script to play out", func() bool { return src.Stats().Reconnects == 7 })

	checkRetryWaits(t, logs.values("camera retrying", "retry_in"), []time.Duration{1, 2, 4, 4, 1, 2, 4})
	st := src.Stats()
	if st.Errors != 7 || st.Captured != 1 || st.State != StateConnecting {
		t.Fatalf("stats = %+v", st)
	}
	if want := `camera "s": session 7 failed`; st.LastError.Error() != want {
		t.Fatalf("last error %q, want %q", st.LastError, want)
	}
}

func TestRunOnlyOnce(t *testing.T) {
	src := start(t, mustNew(t, Spec{Name: "once", Kind: KindSynthetic}, Options{}))
	waitFor(t, 10*time.Second, "a frame", func() bool { return src.Stats().Captured > 0 })
	err := src.Source.Run(context.Background())
	if err == nil || err.Error() != `camera "once": Run called twice` {
		t.Fatalf("second Run: %v", err)
	}
	if errors.Is(err, context.Canceled) || src.returned() {
		t.Fatal("the second Run disturbed the first")
	}
}

// checkRetryWaits compares the logged waits between attempts with want (in milliseconds),
// each allowed the ±20% of jitter.
func checkRetryWaits(t *testing.T, got []string, want []time.Duration) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("retry waits %v: want at least %d", got, len(want))
	}
	for i, w := range want {
		d, err := time.ParseDuration(got[i])
		w *= time.Millisecond
		if err != nil || d < w*8/10 || d > w*12/10 {
			t.Fatalf("retry waits %v: wait %d is not %v ±20%%", got, i+1, w)
		}
	}
}
