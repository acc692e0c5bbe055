//go:build matprofile

package camera

import (
	"path/filepath"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// TestNoMatLeaks counts OpenCV Mats alive before and after sources run, stop and fail. Run it
// with: go test -tags matprofile -run NoMatLeaks ./camera
func TestNoMatLeaks(t *testing.T) {
	before := gocv.MatProfile.Count()
	dir := t.TempDir()
	path := writeVideo(t, dir, 32, 32, 200)
	if n := gocv.MatProfile.Count(); n != before {
		t.Fatalf("writing the test video left %d Mats", n-before)
	}
	specs := []Spec{
		{Name: "loop", Kind: KindFile, Path: path, Loop: true},
		{Name: "once", Kind: KindFile, Path: path},
		{Name: "big", Kind: KindFile, Path: path}, // every frame over the limit
		{Name: "gone", Kind: KindFile, Path: filepath.Join(dir, "gone.avi")},
	}
	for _, spec := range specs {
		opts := Options{Backoff: fastRetry}
		if spec.Name == "big" {
			opts.MaxPixels = 100
		}
		src := start(t, mustNew(t, spec, opts))
		waitFor(t, 10*time.Second, spec.Name+" to capture or fail a few times", func() bool {
			st := src.Stats()
			return st.Captured >= 10 || st.State == StateEnded || st.Errors >= 3
		})
		if err := src.stop(t); err != nil {
			t.Fatal(err)
		}
		if n := gocv.MatProfile.Count(); n != before {
			t.Fatalf("%s: %d Mats still open after Run returned", spec.Name, n-before)
		}
	}
}
