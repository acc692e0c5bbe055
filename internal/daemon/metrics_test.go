package daemon

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/edged/edged/runtime/tflite"
)

// A model whose last run failed is a health problem until a run succeeds; a run cancelled
// from outside says nothing about the model.
func TestModelProblems(t *testing.T) {
	m := newMetrics(statsSource{})
	nan := fmt.Errorf("CLIP image embedding: %w", tflite.ErrNotFinite)
	m.observe(modelCLIPImage, time.Millisecond, nan)
	m.observe(modelBLIPCaption, time.Millisecond, nil)
	want := []string{"model clip_image: " + nan.Error()}
	if got := m.modelProblems(); !slices.Equal(got, want) {
		t.Fatalf("problems %q, want %q", got, want)
	}
	m.observe(modelCLIPImage, time.Millisecond, context.Canceled)
	m.observe(modelBLIPCaption, time.Millisecond, fmt.Errorf("caption: %w", context.DeadlineExceeded))
	if got := m.modelProblems(); !slices.Equal(got, want) {
		t.Fatalf("after cancelled runs: %q, want %q", got, want)
	}
	m.observe(modelBLIPVQA, time.Millisecond, fmt.Errorf("blip: run decoder_step model: boom"))
	want = append(want, "model blip_vqa: blip: run decoder_step model: boom")
	if got := m.modelProblems(); !slices.Equal(got, []string{want[1], want[0]}) {
		t.Fatalf("two failing models: %q", got)
	}
	m.observe(modelCLIPImage, time.Millisecond, nil)
	m.observe(modelBLIPVQA, time.Millisecond, nil)
	if got := m.modelProblems(); len(got) != 0 {
		t.Fatalf("after successful runs: %q", got)
	}
	if n := m.modelHealth(); len(n) != 3 || n[0].Count != 3 {
		t.Errorf("latency of every run is kept: %+v", n)
	}
}
