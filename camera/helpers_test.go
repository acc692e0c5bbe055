package camera

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// palette is the colour of frame i of the test videos (RGB), far enough apart that MJPEG's
// loss cannot turn one into another.
var palette = []color.RGBA{
	{200, 30, 30, 255},
	{30, 200, 30, 255},
	{30, 30, 200, 255},
	{220, 220, 40, 255},
	{40, 210, 210, 255},
	{128, 128, 128, 255},
}

// mjpegTolerance is how far (per channel, 8-bit levels) a flat colour may move through MJPEG
// encoding and decoding.
const mjpegTolerance = 8

// writeVideo writes an MJPG .avi of len(palette) flat frames of w×h at fps, frame i in
// palette[i], and returns its path.
func writeVideo(t testing.TB, dir string, w, h int, fps float64) string {
	t.Helper()
	path := filepath.Join(dir, "colours.avi")
	vw, err := gocv.VideoWriterFile(path, "MJPG", fps, w, h, true)
	if err != nil {
		t.Fatalf("open video writer: %v", err)
	}
	if !vw.IsOpened() {
		t.Fatalf("video writer for %s did not open (OpenCV without MJPG?)", path)
	}
	for i, c := range palette {
		// gocv Scalars are in the Mat's channel order: BGR.
		m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(float64(c.B), float64(c.G), float64(c.R), 0), h, w, gocv.MatTypeCV8UC3)
		err := vw.Write(m)
		m.Close()
		if err != nil {
			t.Fatalf("write frame %d: %v", i, err)
		}
	}
	if err := vw.Close(); err != nil {
		t.Fatalf("close video: %v", err)
	}
	return path
}

// checkFlat fails unless every pixel of img is within tol of want on every channel.
func checkFlat(t testing.TB, what string, img *image.RGBA, want color.RGBA, tol int) {
	t.Helper()
	for i := 0; i < len(img.Pix); i += 4 {
		got := img.Pix[i : i+4]
		if diff(got[0], want.R) > tol || diff(got[1], want.G) > tol || diff(got[2], want.B) > tol || got[3] != 255 {
			p := i / 4
			t.Fatalf("%s: pixel (%d,%d) = %v, want %v within %d", what, p%img.Rect.Dx(), p/img.Rect.Dx(), got, want, tol)
		}
	}
}

func diff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(time.Millisecond) // a polling step, not a wait for something to happen
	}
}

// running is a source whose Run goroutine a test controls.
type running struct {
	Source
	cancel context.CancelFunc
	done   chan error
}

// start runs src until the test ends (or stop is called).
func start(t testing.TB, src Source) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Source: src, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it to return; calling it again is harmless.
func (r *running) stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("camera %q: Run did not return within 10s of cancel", r.Name())
		return nil
	}
}

// returned reports whether Run has returned, without waiting.
func (r *running) returned() bool {
	select {
	case err, ok := <-r.done:
		if ok {
			r.done <- err // keep it for stop
		}
		return true
	default:
		return false
	}
}

// next receives a frame or fails after within.
func next(t testing.TB, src Source, within time.Duration) *Frame {
	t.Helper()
	select {
	case f, ok := <-src.Frames():
		if !ok {
			t.Fatalf("camera %q: Frames closed (stats %+v)", src.Name(), src.Stats())
		}
		return f
	case <-time.After(within):
		t.Fatalf("camera %q: no frame within %v (stats %+v)", src.Name(), within, src.Stats())
		return nil
	}
}

// logRecorder is a slog handler that keeps records for tests to inspect.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// recordLogs is a logRecorder whose records are printed if the test fails.
func recordLogs(t testing.TB) *logRecorder {
	l := &logRecorder{}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, r := range l.records {
			var b strings.Builder
			r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
			t.Logf("log %s %s %s%s", r.Time.Format("15:04:05.000"), r.Level, r.Message, b.String())
		}
	})
	return l
}

// values returns the values of attribute key in the records with message msg, in order.
func (l *logRecorder) values(msg, key string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.records {
		if r.Message != msg {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				out = append(out, fmt.Sprint(a.Value.Any()))
			}
			return true
		})
	}
	return out
}

func mustNew(t testing.TB, spec Spec, opts Options) Source {
	t.Helper()
	src, err := New(spec, opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", spec, err)
	}
	return src
}

// fastRetry retries almost at once, so tests see several attempts quickly.
var fastRetry = Backoff{Initial: time.Millisecond, Max: 8 * time.Millisecond, Factor: 2}
