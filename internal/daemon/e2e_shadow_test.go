package daemon_test

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/mqtttest"
	"github.com/edged/edged/models"
)

// blackCalibrated converts the checkpoint ckpt (CLIP, or BLIP captioning or VQA) to full int8 calibrated on 16 black frames
// (activation ranges that clip everything a camera shows) and puts it in cache where edged run
// finds its conversion of ckpt: a cached model edged did not calibrate, and a wrong one.
func blackCalibrated(t *testing.T, dir, ckpt, cache string) *bundle.Bundle {
	t.Helper()
	black := filepath.Join(dir, "black")
	if err := os.MkdirAll(black, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 16 {
		f, err := os.Create(filepath.Join(black, fmt.Sprintf("black_%02d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, image.NewRGBA(image.Rect(0, 0, 320, 240))); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	out := filepath.Join(dir, "black-int8")
	cmd := exec.Command(edged(t), "convert", "--from", ckpt, "--out", out, "--precision", "int8", "--calibration", black, "--calibration-images", "16")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("edged convert on black frames: %v\n%s", err, msg)
	}
	b, err := bundle.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if b.Manifest.Precision != "int8" || b.Manifest.Calibration == nil || b.Manifest.Calibration.Images != 16 {
		t.Fatalf("the black-calibrated bundle is %s, calibration %+v; want int8 on 16 images", b.Manifest.Precision, b.Manifest.Calibration)
	}
	cached := filepath.Join(models.BundlesDir(cache), convert.CacheName(b.Manifest.Architecture, b.Manifest.Source.Hash, graph.Int8Full))
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(out, cached); err != nil {
		t.Fatal(err)
	}
	return b
}

// startWithBlackCalibrated starts edged on config(ckpt, calibration) with the cache holding
// ckpt's conversion to full int8 calibrated on black frames.
func startWithBlackCalibrated(t *testing.T, config func(t *testing.T, dir, broker string, port int, ckpt, calibration string) string, ckpt, calibration string) calibrationE2E {
	t.Helper()
	return startCalibrationE2E(t, config, ckpt, calibration, func(dir, cache string) { blackCalibrated(t, dir, ckpt, cache) })
}

// The proof of shadow checks: the cache holds a full-int8 CLIP calibrated on black
// frames (wrong on every camera). edged labels with it, its shadow checks against the safe
// precision find the running agreement below the gate's bars, the safe model labels at once,
// the daemon calibrates again on the camera's frames, the new model passes the gate and
// labels, and its shadow checks agree. The labels published after the swap match the scenes'
// truth on ≥ 95% of single-object frames (the test's "last minute": every label result from
// the swap-in to the end, at least 40; frames with two objects are left out, as their truth has
// no one top-1 label).
func TestE2EShadowChecksReplaceAWrongInt8Model(t *testing.T) {
	// A window of 4 checks judged at the default top-1 bar (0.98) would fall back on one flip
	// between two objects the scene shows with about the same score; min_top1 0.75 tolerates
	// one such flip in 4, and the black-calibrated model misses the cosine bars by far anyway.
	e := startWithBlackCalibrated(t, calibrationConfig, unrecognisedShapesCLIP(t),
		"{min_frames: 24, min_span: 3s, every: 100ms, shadow_every: 5, shadow_batch: 2, shadow_window: 4, min_top1: 0.75}")
	p, box, port, cache := e.p, e.box, e.port, e.cache

	p.waitStderr("models.clip runs at full int8; shadow checks compare it with the safe precision", 1)
	p.waitStderr("feature started", 1)
	if s := healthModel(t, port, "clip"); s.Precision != "int8" || s.Calibration == nil || s.Calibration.State != "calibrated" {
		t.Errorf("/healthz models.clip at the start: %+v (calibration %+v), want int8, calibrated", s, s.Calibration)
	}

	const fellBack = "shadow checks: the full-int8 model no longer agrees with the safe one"
	mqtttest.Eventually(t, "the shadow checks' verdict", calibrationTimeout, func() bool {
		if p.done() {
			t.Fatalf("edged exited")
		}
		return p.stderr.Count(fellBack) > 0
	})
	before := len(box.On("edged/e2e/demo/labels"))
	s := healthModel(t, port, "clip")
	if s.Precision != "int8-dynamic" || s.Calibration == nil || s.Calibration.Shadow == nil || s.Calibration.Shadow.Fallbacks != 1 ||
		!strings.Contains(s.Calibration.Shadow.FellBack, "mean cosine") {
		t.Errorf("/healthz models.clip after the fallback: %+v (calibration %+v), want int8-dynamic, one fallback, the mean cosine missed", s, s.Calibration)
	} else {
		t.Logf("running agreement of the black-calibrated model: %+v", *s.Calibration.Shadow)
	}

	mqtttest.Eventually(t, "the model recalibrated on the camera's frames", calibrationTimeout, func() bool {
		if p.done() {
			t.Fatalf("edged exited while calibrating")
		}
		return p.stderr.Count("passed the fidelity gate; labelling with it") > 0 || p.stderr.Count("calibration: the f") > 0
	})
	if p.stderr.Count("passed the fidelity gate; labelling with it") != 1 {
		t.Fatalf("no swap to a recalibrated full int8; the log says:\n%s", p.stderr.Tail(40))
	}
	swapped := len(box.On("edged/e2e/demo/labels"))
	if swapped <= before {
		t.Errorf("no labels published between the fallback and the swap-in (%d, then %d): labels stopped", before, swapped)
	}
	cal := cachedCLIPAt(t, cache, "int8")
	if c := cal.Manifest.Calibration; c == nil || c.Source != "camera" || c.Check == nil || !c.Check.Passed {
		t.Errorf("the cache's int8 bundle after recalibrating: calibration %+v, want the camera's, passed", c)
	}
	if _, err := os.Stat(filepath.Join(cal.Dir, "frames", "calibration")); err != nil {
		t.Errorf("the reservoir's frames did not move with the recalibrated bundle: %v", err)
	}

	// The labels after the swap match the scenes.
	right, single, distinct := labelsTruthSince(t, p, box, swapped, 40, 5)
	if rate := float64(right) / float64(single); rate < 0.95 || distinct < 5 {
		t.Errorf("after recalibrating, top-1 matched the truth on %d of %d single-object frames (%.1f%%, %d objects); want ≥ 95%% over ≥ 5 objects",
			right, single, 100*rate, distinct)
	}

	// The new model is checked too, and agrees.
	deadlineWait(t, "a full window of shadow checks on the recalibrated model", func() bool {
		s := healthModel(t, port, "clip")
		return s.Calibration != nil && s.Calibration.Shadow != nil && s.Calibration.Shadow.Window == 4 && s.Precision == "int8"
	})
	s = healthModel(t, port, "clip")
	if sh := s.Calibration.Shadow; sh.Agreement != "passed" || sh.Fallbacks != 1 || sh.MeanCosine < 0.99 {
		t.Errorf("shadow checks on the recalibrated model: %+v, want passed, still one fallback", *sh)
	}
	_, metrics := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	for name, ok := range map[string]func(float64) bool{
		`edged_shadow_fallbacks_total{model="clip"}`:                 func(v float64) bool { return v == 1 },
		`edged_shadow_checks_total{model="clip"}`:                    func(v float64) bool { return v >= 8 },
		`edged_shadow_agreement{measure="mean_cosine",model="clip"}`: func(v float64) bool { return v >= 0.99 },
		`edged_model_full_int8{model="clip"}`:                        func(v float64) bool { return v == 1 },
	} {
		if v := metricValue(metrics, name); !ok(v) {
			t.Errorf("%s = %v", name, v)
		}
	}
	if n := p.stderr.Count(fellBack); n != 1 {
		t.Errorf("%d fallbacks in the log, want 1", n)
	}
}

// cachedCLIPAt is the cache's CLIP bundle at precision.
func cachedCLIPAt(t *testing.T, cache, precision string) *bundle.Bundle {
	t.Helper()
	entries, err := models.List(cache)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Bundle.Manifest.Precision == precision {
			return e.Bundle
		}
	}
	t.Fatalf("no bundle at %s in %s: %+v", precision, cache, entries)
	return nil
}
