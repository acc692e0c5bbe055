package daemon_test

import (
	"fmt"
	"testing"

	"github.com/edged/edged/internal/mqtttest"
)

// Shadow checks watch a full-int8 BLIP captioner as they watch CLIP: the cache holds the shapes
// captioner calibrated on 16 black frames. edged captions with it, the checks against the safe
// precision (vision outputs, identical captions) fail the running agreement, the safe pool
// captions at once, the daemon calibrates the vision tower again on the camera's frames, the
// new model passes the gate and captions, and its own checks agree. The captions after the
// swap are sentences of the shapes world naming the scene's background.
func TestE2EBLIPShadowChecksReplaceAWrongInt8Captioner(t *testing.T) {
	// A window of 4 checks at the default text bar (0.95) would fall back on one caption that
	// differs by a shape word, as a good int8 model's sometimes does (README); min_text 0.75
	// tolerates one in 4 (and one in 4 of the gate's), and the black-calibrated model misses the
	// cosine bars by far anyway.
	e := startWithBlackCalibrated(t, blipCalibrationConfig, unrecognisedShapesCaptioner(t),
		"{min_frames: 24, min_span: 3s, every: 100ms, shadow_every: 3, shadow_batch: 2, shadow_window: 4, min_text: 0.75}")
	p, box, port, cache := e.p, e.box, e.port, e.cache

	p.waitStderr("models.blip_caption runs at full int8; shadow checks compare it with the safe precision", 1)
	if s := healthModel(t, port, "blip_caption"); s.Calibration == nil || s.Calibration.State != "calibrated" {
		t.Errorf("/healthz models.blip_caption at the start: %+v (calibration %+v), want calibrated", s, s.Calibration)
	}

	const fellBack = "shadow checks: the full-int8 model no longer agrees with the safe one; captioning at the safe precision"
	mqtttest.Eventually(t, "the shadow checks' verdict", calibrationTimeout, func() bool {
		if p.done() {
			t.Fatalf("edged exited")
		}
		return p.stderr.Count(fellBack) > 0
	})
	before := len(box.On("edged/e2e/demo/caption"))
	s := healthModel(t, port, "blip_caption")
	if s.Precision != "int8-dynamic" || s.Calibration == nil || s.Calibration.Shadow == nil || s.Calibration.Shadow.Fallbacks != 1 ||
		s.Calibration.Shadow.FellBack == "" {
		t.Errorf("/healthz models.blip_caption after the fallback: %+v (calibration %+v), want int8-dynamic, one fallback and why", s, s.Calibration)
	} else {
		t.Logf("running agreement of the black-calibrated captioner: %+v", *s.Calibration.Shadow)
	}

	mqtttest.Eventually(t, "the captioner recalibrated on the camera's frames", calibrationTimeout, func() bool {
		if p.done() {
			t.Fatalf("edged exited while calibrating")
		}
		return p.stderr.Count("passed the fidelity gate; captioning with it") > 0
	})
	swapped := len(box.On("edged/e2e/demo/caption"))
	if swapped <= before {
		t.Errorf("no captions published between the fallback and the swap-in (%d, then %d): captions stopped", before, swapped)
	}
	cal := cachedCLIPAt(t, cache, "int8")
	if c := cal.Manifest.Calibration; c == nil || c.Source != "camera" || c.Check == nil || !c.Check.Passed {
		t.Errorf("the cache's int8 bundle after recalibrating: calibration %+v, want the camera's, passed", c)
	}

	// The captions after the swap are the shapes world's and name the scene's background.
	formed, bg, _, n := captionsTruthSince(t, p, box, swapped, 20)
	if formed != n || float64(bg) < 0.9*float64(n) {
		t.Errorf("after recalibrating: %d/%d captions well formed, %d/%d name the background; want all, ≥ 90%%", formed, n, bg, n)
	}

	// The new model is checked too, and agrees.
	deadlineWait(t, "a full window of shadow checks on the recalibrated captioner", func() bool {
		s := healthModel(t, port, "blip_caption")
		return s.Calibration != nil && s.Calibration.Shadow != nil && s.Calibration.Shadow.Window == 4 && s.Precision == "int8"
	})
	s = healthModel(t, port, "blip_caption")
	if sh := s.Calibration.Shadow; sh.Agreement != "passed" || sh.Fallbacks != 1 || sh.MeanCosine < 0.99 || sh.TextAgreement == nil {
		t.Errorf("shadow checks on the recalibrated captioner: %+v, want passed with captions compared, still one fallback", *sh)
	}
	_, metrics := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	for name, ok := range map[string]func(float64) bool{
		`edged_shadow_fallbacks_total{model="blip_caption"}`:                 func(v float64) bool { return v == 1 },
		`edged_shadow_checks_total{model="blip_caption"}`:                    func(v float64) bool { return v >= 8 },
		`edged_shadow_agreement{measure="mean_cosine",model="blip_caption"}`: func(v float64) bool { return v >= 0.99 },
		`edged_shadow_agreement{measure="text",model="blip_caption"}`:        func(v float64) bool { return v >= 0.75 },
		`edged_model_full_int8{model="blip_caption"}`:                        func(v float64) bool { return v == 1 },
	} {
		if v := metricValue(metrics, name); !ok(v) {
			t.Errorf("%s = %v", name, v)
		}
	}
	if n := p.stderr.Count(fellBack); n != 1 {
		t.Errorf("%d fallbacks in the log, want 1", n)
	}
}
