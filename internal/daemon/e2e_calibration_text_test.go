package daemon_test

import (
	"strings"
	"testing"
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
