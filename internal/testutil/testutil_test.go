package testutil

import (
	"math"
	"testing"
)

func TestCosineAndMaxAbsDiff(t *testing.T) {
	a, b := []float32{1, 0, 2}, []float32{2, 0, 4}
	if c := Cosine(a, b); math.Abs(c-1) > 1e-12 {
		t.Errorf("Cosine of parallel vectors %v, want 1", c)
	}
	if c := Cosine([]float32{1, 0}, []float32{0, 3}); c != 0 {
		t.Errorf("Cosine of orthogonal vectors %v, want 0", c)
	}
	if d := MaxAbsDiff(a, b); d != 2 {
		t.Errorf("MaxAbsDiff %v, want 2", d)
	}
	if d := MaxAbsDiff(a, b[:2]); !math.IsInf(d, 1) {
		t.Errorf("MaxAbsDiff of different lengths %v, want +Inf", d)
	}
}
