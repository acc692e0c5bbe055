package camera

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestNewRejectsBadSpecsNamingTheField(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		opts Options
		want string
	}{
		{"no name", Spec{Kind: KindSynthetic}, Options{}, `camera "": name: missing`},
		{"no kind", Spec{Name: "a"}, Options{}, `camera "a": kind: missing: one of stream, mjpeg, snapshot, device, gstreamer, file, folder, synthetic`},
		{"unknown kind", Spec{Name: "a", Kind: "webcam"}, Options{}, `camera "a": kind: "webcam" is not one of`},
		{"no device", Spec{Name: "a", Kind: KindDevice}, Options{}, `camera "a": device: missing`},
		{"relative device", Spec{Name: "a", Kind: KindDevice, Device: "video0"}, Options{}, `camera "a": device: "video0" is neither an index`},
		{"no url", Spec{Name: "a", Kind: KindStream}, Options{}, `camera "a": url: "" is not a stream URL`},
		{"url without host, password hidden", Spec{Name: "a", Kind: KindStream, URL: "rtsp://me:pw@/x"}, Options{}, `camera "a": url: "rtsp://me:xxxxx@/x" is not a stream URL`},
		{"file without path", Spec{Name: "a", Kind: KindFile}, Options{}, `camera "a": path: missing: a file source needs a path`},
		{"folder without path", Spec{Name: "a", Kind: KindFolder}, Options{}, `camera "a": path: missing: a folder source needs a path`},
		{"negative fps", Spec{Name: "a", Kind: KindFile, Path: "x", FPS: -1}, Options{}, `camera "a": fps: -1 is outside [0, 1000]`},
		{"NaN fps", Spec{Name: "a", Kind: KindFile, Path: "x", FPS: math.NaN()}, Options{}, `camera "a": fps: NaN is outside`},
		{"tiny canvas", Spec{Name: "a", Kind: KindSynthetic, Width: 8, Height: 8}, Options{}, `camera "a": width: synthetic canvas 8x8 is under 16 pixels a side`},
		{"huge canvas", Spec{Name: "a", Kind: KindSynthetic, Width: 5000, Height: 5000}, Options{}, `camera "a": width: synthetic canvas 5000x5000 is over the frame limit of 16777216 pixels`},
		{"canvas over a set limit", Spec{Name: "a", Kind: KindSynthetic}, Options{MaxPixels: 1000}, `camera "a": width: synthetic canvas 320x240 is over the frame limit of 1000 pixels`},
		{"negative scene time", Spec{Name: "a", Kind: KindSynthetic, SceneEvery: -time.Second}, Options{}, `camera "a": scene_every: -1s is negative`},
		{"negative size", Spec{Name: "a", Kind: KindDevice, Device: "0", Width: -1}, Options{}, `camera "a": width: size -1x0 is negative`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.spec, tc.opts)
			var se *SpecError
			if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("New: %v\nwant a SpecError starting %q", err, tc.want)
			}
		})
	}
}

func TestDefaultsAreFilledInOnePlace(t *testing.T) {
	s := Spec{Name: "a", Kind: KindSynthetic}.withDefaults()
	if s.FPS != DefaultSyntheticFPS || s.Width != 320 || s.Height != 240 || s.SceneEvery != 4*time.Second {
		t.Fatalf("synthetic defaults: %+v", s)
	}
	if s := (Spec{Kind: KindFolder}).withDefaults(); s.FPS != DefaultFolderFPS {
		t.Fatalf("folder fps default %v", s.FPS)
	}
	if s := (Spec{Kind: KindDevice}).withDefaults(); s.FPS != 0 || s.Width != 0 {
		t.Fatalf("a device keeps its own rate and size: %+v", s)
	}
	o := Options{Backoff: Backoff{Initial: time.Minute}}.withDefaults()
	if o.Logger == nil || o.Backoff.Max != time.Minute || o.Backoff.Factor != 2 || o.MaxPixels != DefaultMaxPixels || o.PoolSize != 4 {
		t.Fatalf("option defaults: %+v", o)
	}
	for _, spec := range []Spec{
		{Name: "cam", Kind: KindDevice, Device: "0"},
		{Name: "cam", Kind: KindDevice, Device: "/dev/video0", Width: 1280, Height: 720, FPS: 10},
		{Name: "cam", Kind: KindStream, URL: "rtsp://user:pw@192.0.2.1:554/stream1"},
		{Name: "cam", Kind: KindFile, Path: "/videos/a.mp4", Loop: true},
		{Name: "cam", Kind: KindFolder, Path: "/pictures", FPS: 0.2},
		{Name: "cam", Kind: KindSynthetic, Seed: 3},
	} {
		src, err := New(spec, Options{})
		if err != nil {
			t.Fatalf("New(%+v): %v", spec, err)
		}
		if src.Name() != "cam" || src.Stats().State != StateIdle {
			t.Fatalf("new %s source: name %q, stats %+v", spec.Kind, src.Name(), src.Stats())
		}
	}
}
