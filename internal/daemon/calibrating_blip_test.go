package daemon

import (
	"context"
	"errors"
	"image"
	"image/color"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/models"
	"github.com/edged/edged/runtime/tflite"
)

// shapesVQABundle converts the shapes VQA checkpoint at precision into a new folder.
func shapesVQABundle(t *testing.T, precision graph.Precision) *bundle.Bundle {
	return shapesBLIPBundle(t, "blip_vqa", precision)
}

// shapesBLIPBundle converts the shapes BLIP checkpoint name at precision into a new folder.
func shapesBLIPBundle(t *testing.T, name string, precision graph.Precision) *bundle.Bundle {
	t.Helper()
	b, err := models.Convert(filepath.Join("../../models/shapes", name), filepath.Join(t.TempDir(), "bundle"), convert.Options{Precision: precision})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func poolPrecision(h *hotSwap[*blipPool]) string {
	p := h.model()
	defer h.swap.RUnlock()
	return p.model.Bundle().Manifest.Precision
}

// A passed BLIP model is swapped into the loaded answerer while it answers: every answer runs
// wholly on one model (none fails on a closed one) and the answerer runs on the new one after.
// Unloaded (idle), nothing is loaded at the swap, and the next load reads the calibrated
// bundle that took the safe one's place in the cache.
func TestCalibratingBLIPSwapsThePool(t *testing.T) {
	safe, calibrated := shapesVQABundle(t, convert.SafePrecision), shapesVQABundle(t, graph.Int8Full)
	if safe.Manifest.Precision != "int8-dynamic" || calibrated.Manifest.Precision != "int8" {
		t.Fatalf("bundles at %s and %s", safe.Manifest.Precision, calibrated.Manifest.Precision)
	}
	l := &loader{run: tflite.Options{Threads: 1}, blipWorkers: 2}
	var loads atomic.Int32
	c := &calibratingBLIP{load: func(b *bundle.Bundle) (*blipPool, error) {
		loads.Add(1)
		return newBLIPPool(b, l.run, l.blipWorkers, blip.ArchVQA)
	}}
	// Calibrated: the frames answered on are not kept (this test is about the swap).
	c.initCalibrator(fieldBLIPVQA, "answering", true, calibrationParts{}, CalibrationOptions{}, discardLogger())

	part, _, err := l.openBLIP(fieldBLIPVQA, blip.ArchVQA, safe, c)
	if err != nil {
		t.Fatal(err)
	}
	ans := part.Answerer.(*blipAnswerer)
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	img.Set(10, 10, color.White)
	ctx := context.Background()
	callers := callUntilStopped(2, func() error {
		a, err := ans.Answer(ctx, img, []string{"how many shapes are there?"})
		if err == nil && a[0] == "" {
			err = errors.New("an empty answer")
		}
		if err != nil {
			t.Errorf("an answer across the swap: %v", err)
		}
		return err
	})
	eventually(t, "answers on the safe model", func() bool { return callers.calls.Load() >= 4 })
	if err := c.swapInPool(calibrated); err != nil {
		t.Fatal(err)
	}
	before := callers.calls.Load()
	eventually(t, "answers after the swap", func() bool { return callers.calls.Load() >= before+4 })
	callers.stopAll()
	if got := poolPrecision(ans.pool); got != "int8" || loads.Load() != 1 {
		t.Errorf("after the swap the answerer runs at %s (%d loads), want int8 (1)", got, loads.Load())
	}

	// Unloaded: the swap loads nothing; the next load reads the cache's (now calibrated) bundle.
	if err := part.Close(); err != nil {
		t.Fatal(err)
	}
	if err := convert.Publish(calibrated.Dir, safe.Dir); err != nil {
		t.Fatal(err)
	}
	if err := c.swapInPool(calibrated); err != nil || loads.Load() != 1 {
		t.Fatalf("swap while unloaded: %v, %d loads; want none", err, loads.Load())
	}
	part, _, err = l.openBLIP(fieldBLIPVQA, blip.ArchVQA, safe, c)
	if err != nil {
		t.Fatal(err)
	}
	defer part.Close()
	if got := poolPrecision(part.Answerer.(*blipAnswerer).pool); got != "int8" {
		t.Errorf("loaded again at %s, want the calibrated int8 bundle from the cache", got)
	}
}

// A VQA model's gate asks the standing questions of the running config: a reload changes them
// without loading the model again, and the next conversion's gate asks the new ones.
func TestCalibratingBLIPVQAGateAsksTheRunningQuestions(t *testing.T) {
	safe := shapesVQABundle(t, convert.SafePrecision)
	asking := func(qs ...string) *Config {
		return &Config{Cameras: []Camera{{Name: "a", Questions: QuestionsConfig{Every: time.Second, Ask: qs}},
			{Name: "b", Questions: QuestionsConfig{Every: time.Second, Ask: qs[:1]}}}}
	}
	var running atomic.Pointer[Config]
	running.Store(asking("how many shapes are there?", "what color is the background?"))
	l := &loader{cfg: running.Load(), log: discardLogger(), prep: newPreparation(running.Load()), run: tflite.Options{Threads: 1}, blipWorkers: 1}
	l.prep.config = running.Load
	c, err := l.calibratingBLIP(fieldBLIPVQA, safe, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	gateQuestions := func() []string {
		c.mu.Lock()
		defer c.mu.Unlock()
		in, notYet := c.gateInputs()
		if notYet != "" {
			t.Fatalf("the gate waits: %s", notYet)
		}
		return in.Questions
	}
	if got, want := gateQuestions(), []string{"how many shapes are there?", "what color is the background?"}; !slices.Equal(got, want) {
		t.Errorf("the gate asks %q, want the loaded config's %q (each once)", got, want)
	}
	running.Store(asking("what shape is the blue thing?"))
	if got, want := gateQuestions(), []string{"what shape is the blue thing?"}; !slices.Equal(got, want) {
		t.Errorf("after a reload the gate asks %q, want the reloaded config's %q", got, want)
	}
}
