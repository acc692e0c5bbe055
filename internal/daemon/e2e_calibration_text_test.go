package daemon_test

import (
	"strings"
	"testing"

	blipspec "github.com/edged/edged/blip/spec"
)

// With models.calibration.text the conversion on the camera's frames calibrates CLIP's text
// tower too, on the prompts of the label sets the camera labels with: the gate keeps it at
// full int8 (the shapes CLIP's passes, as in edged convert --calibrate-text), /healthz reports
// both towers at int8, the cache's bundle records what the text tower was calibrated on, and
// the labels published with the new text embeddings still match the scenes' truth.
func TestE2ECalibratesTheTextTowerOnTheCamera(t *testing.T) {
	e := startCalibrationE2E(t, calibrationConfig, unrecognisedShapesCLIP(t), "{min_frames: 48, min_span: 4s, every: 100ms, text: true}")
	p, box, port, cache := e.p, e.box, e.port, e.cache

	safe := startsSafe(t, p, port, cache, "clip", 48)
	if p.stderr.Count("text_tower_too=true") != 1 {
		t.Errorf("the log does not say the text tower is calibrated too:\n%s", p.stderr.Tail(20))
	}
	checkParts(t, "clip", healthModel(t, port, "clip"), map[string]string{"vision": "int8-dynamic", "text": "int8-dynamic"})
	calibratedOnTheCamera(t, p, port, "clip", "labelling")
	swapped := len(box.On("edged/e2e/demo/labels"))
	checkParts(t, "clip", healthModel(t, port, "clip"), map[string]string{"vision": "int8", "text": "int8"})

	cal := cameraCalibratedBundle(t, cache, safe, 30, 10)
	c := cal.Bundle.Manifest.Calibration
	if !strings.Contains(c.Text, "shapes") {
		t.Errorf("the calibrated bundle's calibration.text %q does not name the label set it was calibrated on", c.Text)
	}
	if textTowerSHA(t, safe) == textTowerSHA(t, cal) {
		t.Error("the calibrated bundle kept the safe text tower")
	}
	if p.stderr.Count("text tower at full int8, against the") == 0 {
		t.Errorf("the log has no text gate's verdict:\n%s", p.stderr.Tail(40))
	}
	t.Logf("calibration.text: %s", c.Text)

	// Labels after the swap, embedded by the full-int8 text tower, match the scenes.
	checkLabelsTruthSince(t, p, box, swapped, 40, 5)
}

// The same for the BLIP captioner: with models.calibration.text the child calibrates its text
// models (cross_kv, decoder step) on the float model's own captions of the camera's frames,
// each kept at full int8 only if every sampled caption stays the same (on the shapes
// captioner cross_kv usually does and the decoder step is at the edge: BENCHMARKS.md, "Which
// BLIP text models run at full int8"). Whichever passed: the log gives each one's verdict,
// /healthz reports each part at the precision the cached bundle has it, the manifest's
// calibration.text names exactly the text models at full int8 (only their files changed
// besides the vision tower), and the captions after the swap match the scenes.
func TestE2ECalibratesBLIPTextModelsOnTheCamera(t *testing.T) {
	e := startCalibrationE2E(t, blipCalibrationConfig, unrecognisedShapesCaptioner(t), "{min_frames: 32, min_span: 4s, every: 100ms, text: true}")
	p, box, port, cache := e.p, e.box, e.port, e.cache

	safe := startsSafe(t, p, port, cache, "blip_caption", 32)
	if p.stderr.Count("its text models are calibrated then too") != 1 {
		t.Errorf("the log does not say the text models are calibrated too:\n%s", p.stderr.Tail(20))
	}
	calibratedOnTheCamera(t, p, port, "blip_caption", "captioning")
	swapped := len(box.On("edged/e2e/demo/caption"))

	cal := cameraCalibratedBundle(t, cache, safe, 20, 6)
	want := map[string]string{}
	var full []string
	for _, f := range cal.Bundle.Manifest.ModelFiles() {
		want[f.Role] = f.Precision
		s, ok := safe.Bundle.Manifest.File(f.Role)
		if !ok {
			t.Fatalf("the safe bundle has no %s", f.Role)
		}
		if f.Role == blipspec.RoleVision {
			continue
		}
		if p.stderr.Count(f.Role+" at full int8, against the bundle it would join") == 0 {
			t.Errorf("the log has no verdict on %s at full int8:\n%s", f.Role, p.stderr.Tail(40))
		}
		switch {
		case f.Precision == "int8":
			full = append(full, f.Role)
		case f.SHA256 != s.SHA256:
			t.Errorf("%s at %s changed from the safe bundle's", f.Role, f.Precision)
		}
	}
	checkParts(t, "blip_caption", healthModel(t, port, "blip_caption"), want)
	text := cal.Bundle.Manifest.Calibration.Text
	if len(full) == 0 && text != "" || len(full) > 0 && !strings.HasPrefix(text, strings.Join(full, ", ")+" at full int8") {
		t.Errorf("text models at full int8 %v, calibration.text %q", full, text)
	}
	t.Logf("text models at full int8: %v; calibration.text %q", full, text)

	formed, bg, exact, n := captionsTruthSince(t, p, box, swapped, 30)
	if formed != n || float64(bg) < 0.9*float64(n) || float64(exact) < 0.2*float64(n) {
		t.Errorf("after the swap: %d/%d well formed, %d/%d name the background, %d/%d exact", formed, n, bg, n, exact, n)
	}
}
