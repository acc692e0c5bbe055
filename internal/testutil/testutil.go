// Package testutil holds the small helpers that the tests of several packages share:
// comparing float vectors and reading test images.
package testutil

import (
	"image"
	"math"
	"testing"

	"github.com/edged/edged/imageproc"
)

// Cosine is the cosine similarity of a and b, in float64.
func Cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

// MaxAbsDiff is the largest |a[i] - b[i]|, or +Inf when the lengths differ.
func MaxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

// DecodeImage reads the image file at path (imageproc.DecodeFile), failing the test if it
// cannot.
func DecodeImage(t testing.TB, path string) image.Image {
	t.Helper()
	img, err := imageproc.DecodeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
