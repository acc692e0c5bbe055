package daemon_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/edged/edged/internal/mqtttest"
)

// blipShadowCalibration are the BLIP shadow tests' models.calibration. A window of 4 checks at
// the default text bar (0.95) would fall back on one caption that differs by a shape word, as a
// good int8 model's sometimes does (README); min_text 0.75 tolerates one in 4 (and one in 4 of
// the gate's), and a black-calibrated model misses the cosine bars by far anyway.
const blipShadowCalibration = "{min_frames: 24, min_span: 3s, every: 100ms, shadow_every: 3, shadow_batch: 2, shadow_window: 4, min_text: 0.75}"

// fallsBackAndRecalibrates follows the shadow checks of e, started with field's full-int8 model
// calibrated on black frames (startWithBlackCalibrated), which does task and publishes on
// topic: the checks against the safe precision (vision outputs, identical texts) fail the
// running agreement, the safe pool does task at once (topic keeps getting messages), the daemon
// calibrates the vision tower again on the camera's frames, and the new model passes the gate.
// It returns once the new model runs.
func fallsBackAndRecalibrates(t *testing.T, e calibrationE2E, field, task, topic string) {
	t.Helper()
	p, box, port := e.p, e.box, e.port
	p.waitStderr("models."+field+" runs at full int8; shadow checks compare it with the safe precision", 1)
	if s := healthModel(t, port, field); s.Calibration == nil || s.Calibration.State != "calibrated" {
		t.Errorf("/healthz models.%s at the start: %+v (calibration %+v), want calibrated", field, s, s.Calibration)
	}

	fellBack := "shadow checks: the full-int8 model no longer agrees with the safe one; " + task + " at the safe precision"
	mqtttest.Eventually(t, "the shadow checks' verdict", calibrationTimeout, func() bool {
		if p.done() {
			t.Fatalf("edged exited")
		}
		return p.stderr.Count(fellBack) > 0
	})
	before := len(box.On(topic))
	s := healthModel(t, port, field)
	// The window starts again after the fallback: the failed agreement is in why it fell back.
	if s.Precision != "int8-dynamic" || s.Calibration == nil || s.Calibration.Shadow == nil || s.Calibration.Shadow.Fallbacks != 1 ||
		!strings.Contains(s.Calibration.Shadow.FellBack, "mean cosine") {
		t.Errorf("/healthz models.%s after the fallback: %+v (calibration %+v), want int8-dynamic, one fallback, the mean cosine missed", field, s, s.Calibration)
	} else {
		t.Logf("running agreement of the black-calibrated model: %s", s.Calibration.Shadow.FellBack)
	}

	mqtttest.Eventually(t, "the model recalibrated on the camera's frames", calibrationTimeout, func() bool {
		if p.done() {
			t.Fatalf("edged exited while calibrating")
		}
		return p.stderr.Count("passed the fidelity gate; "+task+" with it") > 0
	})
	if swapped := len(box.On(topic)); swapped <= before {
		t.Errorf("nothing published on %s between the fallback and the swap-in (%d, then %d): %s stopped", topic, before, swapped, task)
	}
	cal := cachedCLIPAt(t, e.cache, "int8")
	if c := cal.Manifest.Calibration; c == nil || c.Source != "camera" || c.Check == nil || !c.Check.Passed {
		t.Errorf("the cache's int8 bundle after recalibrating: calibration %+v, want the camera's, passed", c)
	}
}

// recalibratedAgrees checks that shadow checks watch the model of field that
// fallsBackAndRecalibrates swapped in, and agree on a full window, texts compared; and that the
// log, /healthz and the metrics count the one fallback.
func recalibratedAgrees(t *testing.T, e calibrationE2E, field string) {
	t.Helper()
	deadlineWait(t, "a full window of shadow checks on the recalibrated model", func() bool {
		s := healthModel(t, e.port, field)
		return s.Calibration != nil && s.Calibration.Shadow != nil && s.Calibration.Shadow.Window == 4 && s.Precision == "int8"
	})
	s := healthModel(t, e.port, field)
	if sh := s.Calibration.Shadow; sh.Agreement != "passed" || sh.Fallbacks != 1 || sh.MeanCosine < 0.99 || sh.TextAgreement == nil {
		t.Errorf("shadow checks on the recalibrated models.%s: %+v, want passed with texts compared, still one fallback", field, *sh)
	}
	_, metrics := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", e.port))
	for name, ok := range map[string]func(float64) bool{
		`edged_shadow_fallbacks_total{model="` + field + `"}`:                 func(v float64) bool { return v == 1 },
		`edged_shadow_checks_total{model="` + field + `"}`:                    func(v float64) bool { return v >= 8 },
		`edged_shadow_agreement{measure="mean_cosine",model="` + field + `"}`: func(v float64) bool { return v >= 0.99 },
		`edged_shadow_agreement{measure="text",model="` + field + `"}`:        func(v float64) bool { return v >= 0.75 },
		`edged_model_full_int8{model="` + field + `"}`:                        func(v float64) bool { return v == 1 },
	} {
		if v := metricValue(metrics, name); !ok(v) {
			t.Errorf("%s = %v", name, v)
		}
	}
	if n := e.p.stderr.Count("shadow checks: the full-int8 model no longer agrees with the safe one"); n != 1 {
		t.Errorf("%d fallbacks in the log, want 1", n)
	}
}

// Shadow checks watch a full-int8 BLIP captioner as they watch CLIP: the cache holds the shapes
// captioner calibrated on 16 black frames. edged captions with it, the checks fail, the safe
// pool captions at once, the daemon recalibrates on the camera's frames, and the new model's own
// checks agree (fallsBackAndRecalibrates, recalibratedAgrees). The captions after the swap are
// sentences of the shapes world naming the scene's background.
func TestE2EBLIPShadowChecksReplaceAWrongInt8Captioner(t *testing.T) {
	const topic = "edged/e2e/demo/caption"
	e := startWithBlackCalibrated(t, blipCalibrationConfig, unrecognisedShapesCaptioner(t), blipShadowCalibration)
	fallsBackAndRecalibrates(t, e, "blip_caption", "captioning", topic)
	swapped := len(e.box.On(topic))

	formed, bg, _, n := captionsTruthSince(t, e.p, e.box, swapped, 20)
	if formed != n || float64(bg) < 0.9*float64(n) {
		t.Errorf("after recalibrating: %d/%d captions well formed, %d/%d name the background; want all, ≥ 90%%", formed, n, bg, n)
	}
	recalibratedAgrees(t, e, "blip_caption")
}

// The same for a full-int8 BLIP answerer calibrated on black frames, asked the camera's two
// standing questions: after the swap, the answers are the scenes' truth on ≥ 95% of the last
// stretch (40 answers from the swap-in on; the shapes VQA model answers both questions right on
// nearly every scene).
func TestE2EBLIPShadowChecksReplaceAWrongInt8Answerer(t *testing.T) {
	e := startWithBlackCalibrated(t, vqaConfig, unrecognisedShapesVQA(t), blipShadowCalibration)
	fallsBackAndRecalibrates(t, e, "blip_vqa", "answering", "edged/e2e/demo/answer")
	swapped := len(e.p.stdout.String())

	if right, n := answersTruthFrom(t, e.p, swapped, 40); float64(right) < 0.95*float64(n) {
		t.Errorf("after recalibrating %d of %d answers are the truth; want ≥ 95%%", right, n)
	}
	recalibratedAgrees(t, e, "blip_vqa")
}
