package camera

import (
	"bytes"
	"errors"
	"image"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFilePlaysFramesInOrderAndEnds(t *testing.T) {
	path := writeVideo(t, t.TempDir(), 64, 48, 50)
	src := start(t, mustNew(t, Spec{Name: "clip", Kind: KindFile, Path: path}, Options{}))

	var got []*Frame
	for f := range src.Frames() { // closed when Run returns at the end of the file
		got = append(got, f)
	}
	if err := src.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := src.Stats()
	if st.State != StateEnded || st.Captured != uint64(len(palette)) || st.Errors != 0 {
		t.Fatalf("stats after the end = %+v, want ended, %d captured, no errors", st, len(palette))
	}
	if uint64(len(got))+st.Dropped != st.Captured {
		t.Fatalf("received %d + dropped %d != captured %d", len(got), st.Dropped, st.Captured)
	}
	if len(got) == 0 {
		t.Fatal("no frame received")
	}
	for i, f := range got {
		if f.Camera != "clip" || f.Index < 0 || f.Index >= len(palette) || f.Annotations != nil || f.Path != "" {
			t.Fatalf("frame %d: camera %q index %d annotations %v path %q", i, f.Camera, f.Index, f.Annotations, f.Path)
		}
		if f.Image.Rect != image.Rect(0, 0, 64, 48) || f.Image.Stride != 64*4 {
			t.Fatalf("frame %d: picture %v stride %d, want 64x48 packed", i, f.Image.Rect, f.Image.Stride)
		}
		if i > 0 && (f.Seq <= got[i-1].Seq || f.Index <= got[i-1].Index || f.Time.Before(got[i-1].Time)) {
			t.Fatalf("frame %d (seq %d, index %d) does not follow seq %d, index %d", i, f.Seq, f.Index, got[i-1].Seq, got[i-1].Index)
		}
		if int(f.Seq) != f.Index+1 {
			t.Fatalf("frame %d: seq %d for file index %d (one pass: seq = index+1)", i, f.Seq, f.Index)
		}
		checkFlat(t, "frame index "+string(rune('0'+f.Index)), f.Image, palette[f.Index], mjpegTolerance)
	}
}

func TestFileLoopsWithGrowingSeq(t *testing.T) {
	path := writeVideo(t, t.TempDir(), 32, 32, 100)
	src := start(t, mustNew(t, Spec{Name: "loop", Kind: KindFile, Path: path, Loop: true}, Options{}))

	// Read until the file has visibly started again: an index lower than the one before.
	var prev *Frame
	for wrapped := false; !wrapped; {
		f := next(t, src, 5*time.Second)
		checkFlat(t, "looped frame", f.Image, palette[f.Index], mjpegTolerance)
		if prev != nil {
			if f.Seq <= prev.Seq {
				t.Fatalf("seq went from %d to %d", prev.Seq, f.Seq)
			}
			wrapped = f.Index < prev.Index
		}
		prev = f
	}
	if err := src.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := src.Stats()
	if st.State != StateStopped || st.Errors != 0 || st.Reconnects != 0 || st.Captured <= uint64(len(palette)) {
		t.Fatalf("stats = %+v: want stopped, no errors or reconnects, more than one pass captured", st)
	}
	if _, open := <-src.Frames(); open {
		// One unread frame may still be there; after it the channel must be closed.
		if _, open := <-src.Frames(); open {
			t.Fatal("Frames still open after Run returned")
		}
	}
}

func TestOpenFailuresAreRetriedAndNamed(t *testing.T) {
	dir := t.TempDir()
	notVideo := filepath.Join(dir, "notes.avi")
	if err := os.WriteFile(notVideo, []byte("this is not a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		spec Spec
		want string
		is   error
	}{
		{"missing device", Spec{Kind: KindDevice, Device: "/dev/video99"}, `camera "missing device": open /dev/video99: no such file or directory`, fs.ErrNotExist},
		{"missing device index", Spec{Kind: KindDevice, Device: "99"}, `camera "missing device index": open device 99: not a capture device`, nil},
		{"refused stream", Spec{Kind: KindStream, URL: "rtsp://127.0.0.1:1/live"}, `camera "refused stream": open rtsp://127.0.0.1:1/live: dial tcp 127.0.0.1:1: connect: connection refused`, nil},
		{"not a device", Spec{Kind: KindDevice, Device: "/dev/null"}, `camera "not a device": open /dev/null: not a capture device`, nil},
		{"missing file", Spec{Kind: KindFile, Path: filepath.Join(dir, "gone.avi")}, `camera "missing file": open ` + filepath.Join(dir, "gone.avi") + `: no such file or directory`, fs.ErrNotExist},
		{"not a video", Spec{Kind: KindFile, Path: notVideo}, `camera "not a video": open ` + notVideo + `: not a video OpenCV can decode`, nil},
		{"missing folder", Spec{Kind: KindFolder, Path: filepath.Join(dir, "nope")}, `camera "missing folder": open folder ` + filepath.Join(dir, "nope") + `: no such file or directory`, fs.ErrNotExist},
		{"empty folder", Spec{Kind: KindFolder, Path: dir + "/"}, `camera "empty folder": folder ` + dir + `/ has no images (PNG, JPEG, GIF (its first frame) and BMP)`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs := &logRecorder{}
			tc.spec.Name = tc.name
			src := start(t, mustNew(t, tc.spec, Options{Backoff: fastRetry, Logger: slog.New(logs)}))
			waitFor(t, 10*time.Second, "three reconnects", func() bool { return src.Stats().Reconnects >= 3 })
			if src.returned() {
				t.Fatal("Run returned after a failure; it should keep retrying")
			}
			st := src.Stats()
			if st.Errors < 3 || st.Captured != 0 || st.LastError == nil {
				t.Fatalf("stats = %+v, want ≥3 errors and no frames", st)
			}
			if !strings.HasPrefix(st.LastError.Error(), tc.want) {
				t.Fatalf("error = %q\nwant it to start with %q", st.LastError, tc.want)
			}
			if tc.is != nil && !errors.Is(st.LastError, tc.is) {
				t.Fatalf("error %q does not wrap %v", st.LastError, tc.is)
			}
			if err := src.stop(t); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if st := src.Stats(); st.State != StateStopped {
				t.Fatalf("state after cancel = %s, want stopped", st.State)
			}
			// The waits between attempts double from Initial up to Max.
			checkRetryWaits(t, logs.values("camera retrying", "retry_in"), []time.Duration{1, 2, 4})
			// One log line for the outage, not one per attempt.
			if n := len(logs.values("camera failed", "err")); n != 1 {
				t.Fatalf("%d \"camera failed\" lines for one outage, want 1", n)
			}
		})
	}
}

func TestStreamOverHTTPReconnectsWhenItEnds(t *testing.T) {
	dir := t.TempDir()
	writeVideo(t, dir, 32, 24, 100)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()

	logs := &logRecorder{}
	url := strings.Replace(srv.URL, "http://", "http://viewer:secret@", 1) + "/colours.avi"
	src := start(t, mustNew(t, Spec{Name: "http", Kind: KindStream, URL: url}, Options{Backoff: fastRetry, Logger: slog.New(logs)}))

	// A stream has no end: when the server's file runs out the source reconnects and goes on.
	waitFor(t, 20*time.Second, "a reconnect after the stream ended", func() bool { return src.Stats().Reconnects >= 1 })
	f := next(t, src, 10*time.Second)
	if f.Index != -1 {
		t.Fatalf("stream frame index = %d, want -1", f.Index)
	}
	if f.Image.Rect.Dx() != 32 || f.Image.Rect.Dy() != 24 {
		t.Fatalf("stream frame is %v, want 32x24", f.Image.Rect)
	}
	matched := false
	for _, c := range palette {
		px := f.Image.Pix[:4]
		matched = matched || diff(px[0], c.R) <= mjpegTolerance && diff(px[1], c.G) <= mjpegTolerance && diff(px[2], c.B) <= mjpegTolerance
	}
	if !matched {
		t.Fatalf("stream pixel %v is none of the written colours", f.Image.Pix[:4])
	}
	st := src.Stats()
	if st.LastError == nil || !strings.Contains(st.LastError.Error(), `camera "http": read http://viewer:xxxxx@`) {
		t.Fatalf("last error = %v, want the stream's end, naming the camera and the redacted URL", st.LastError)
	}
	checkNoSecret(t, logs, st, "secret")
}

func TestOversizedFramesAreRejected(t *testing.T) {
	path := writeVideo(t, t.TempDir(), 64, 48, 100)
	src := start(t, mustNew(t, Spec{Name: "big", Kind: KindFile, Path: path}, Options{MaxPixels: 1000, Backoff: fastRetry}))
	// A rejection is counted, then its error: wait for both.
	waitFor(t, 10*time.Second, "two rejected frames", func() bool { st := src.Stats(); return st.Rejected >= 2 && st.Errors >= 2 })
	st := src.Stats()
	var size *FrameSizeError
	if !errors.As(st.LastError, &size) || size.Width != 64 || size.Height != 48 {
		t.Fatalf("last error = %v, want a FrameSizeError for 64x48", st.LastError)
	}
	want := `camera "big": read ` + path + `: frame 64x48 is over the limit of 1000 pixels`
	if !strings.HasPrefix(st.LastError.Error(), want) {
		t.Fatalf("error = %q, want it to start with %q", st.LastError, want)
	}
	if st.Captured != 0 || st.Errors < 2 {
		t.Fatalf("stats = %+v: want nothing captured and the rejections counted as errors", st)
	}
}

func TestHeldFramesAreNeverOverwritten(t *testing.T) {
	path := writeVideo(t, t.TempDir(), 32, 32, 200)
	src := start(t, mustNew(t, Spec{Name: "held", Kind: KindFile, Path: path, Loop: true}, Options{PoolSize: 2}))

	held := next(t, src, 5*time.Second)
	snapshot := bytes.Clone(held.Image.Pix)
	// Meanwhile frames go through the pool and back: read and release plenty of them.
	seen := map[*image.RGBA]bool{}
	reused := false
	for i := 0; i < 3*len(palette); i++ {
		f := next(t, src, 5*time.Second)
		if f.Image == held.Image {
			t.Fatal("a new frame was drawn into the buffer of a frame still held")
		}
		reused = reused || seen[f.Image]
		seen[f.Image] = true
		f.Release()
	}
	if !bytes.Equal(held.Image.Pix, snapshot) {
		t.Fatal("the held frame's pixels changed")
	}
	if !reused {
		t.Fatal("released buffers were never reused")
	}
	held.Release()
}
