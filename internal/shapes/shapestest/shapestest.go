// Package shapestest writes frames of the shapes world for tests that calibrate and check
// models on folders of camera frames.
package shapestest

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/edged/edged/internal/shapes"
)

// CameraFrames writes n frames as the synthetic camera shows them (camera/synthetic.go: a
// random scene of the shapes world at 320x240, no jitter or noise), as the JPEGs a frame
// reservoir keeps, into a new folder. Different seeds give different scenes.
func CameraFrames(t testing.TB, n int, seed uint64) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i < n; i++ {
		img, err := shapes.Render(shapes.Random(rng), 320, 240, shapes.Options{})
		if err != nil {
			t.Fatal(err)
		}
		WriteJPEG(t, filepath.Join(dir, fmt.Sprintf("frame_%03d.jpg", i)), img)
	}
	return dir
}

// BlackFrames writes n black 320x240 frames into a new folder: a camera with its lens covered.
func BlackFrames(t testing.TB, n int) string {
	t.Helper()
	dir := t.TempDir()
	img := image.NewGray(image.Rect(0, 0, 320, 240)) // all zero: black
	for i := 0; i < n; i++ {
		WriteJPEG(t, filepath.Join(dir, fmt.Sprintf("black_%03d.jpg", i)), img)
	}
	return dir
}

// WriteJPEG writes img to path at quality 90.
func WriteJPEG(t testing.TB, path string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
