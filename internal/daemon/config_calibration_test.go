package daemon

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/internal/fidelity"
)

// models.calibration: defaults when absent, values as given, and bad values refused naming the
// file, line and key.
func TestCalibrationConfig(t *testing.T) {
	dir := t.TempDir()
	base := "device: d\nmodels:\n  clip: " + dir + "\ncameras:\n  - name: c\n    source: {kind: synthetic}\n"
	cfg, err := ParseConfig([]byte(base), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.Models.Calibration.options()
	if !cfg.Models.Calibration.enabled() || o.MinFrames != 64 || o.MinSpan != 5*time.Minute || o.Reservoir.Max != 256 ||
		o.Reservoir.Every != 10*time.Second || o.Retry != 5*time.Minute || o.Thresholds != fidelity.DefaultThresholds() || o.TextFrames != 0 || o.Text ||
		o.Shadow != (ShadowOptions{Every: 500, Interval: 10 * time.Minute, Batch: 20, Window: 50}) {
		t.Errorf("defaults: enabled %v, %+v", cfg.Models.Calibration.enabled(), o)
	}
	given := strings.Replace(base, "  clip: "+dir, "  clip: "+dir+
		"\n  calibration: {camera: true, min_frames: 16, min_span: 1m, max_frames: 32, every: 2s, retry: 1h, min_top1: 0.9,"+
		" min_text: 0.8, check_texts: 24, shadow_every: 40, shadow_interval: 1m, shadow_batch: 4, shadow_window: 8}", 1)
	if cfg, err = ParseConfig([]byte(given), "x.yaml"); err != nil {
		t.Fatal(err)
	}
	o = cfg.Models.Calibration.options()
	want := fidelity.DefaultThresholds()
	want.Top1, want.Text = 0.9, 0.8
	if o.TextFrames != 24 || o.MinFrames != 16 || o.MinSpan != time.Minute || o.Reservoir.Max != 32 || o.Reservoir.Every != 2*time.Second || o.Retry != time.Hour || o.Thresholds != want ||
		o.Shadow != (ShadowOptions{Every: 40, Interval: time.Minute, Batch: 4, Window: 8}) {
		t.Errorf("as given: %+v", o)
	}
	off := strings.Replace(base, "  clip: "+dir, "  clip: "+dir+"\n  calibration: {camera: false}", 1)
	if cfg, err = ParseConfig([]byte(off), "x.yaml"); err != nil || cfg.Models.Calibration.enabled() {
		t.Errorf("camera: false: %v, enabled %v", err, cfg != nil && cfg.Models.Calibration.enabled())
	}
	noShadow := strings.Replace(base, "  clip: "+dir, "  clip: "+dir+"\n  calibration: {shadow: false}", 1)
	if cfg, err = ParseConfig([]byte(noShadow), "x.yaml"); err != nil || !cfg.Models.Calibration.options().Shadow.Off {
		t.Errorf("shadow: false: %v, %+v", err, cfg)
	}
	text := strings.Replace(base, "  clip: "+dir, "  clip: "+dir+"\n  calibration: {text: true}", 1)
	if cfg, err = ParseConfig([]byte(text), "x.yaml"); err != nil || !cfg.Models.Calibration.options().Text {
		t.Errorf("text: true: %v, %+v", err, cfg)
	}
	for _, c := range []struct{ value, want string }{
		{"{text: true, camera: false}", "models.calibration.text: true asks the conversion on the cameras' frames to calibrate the text models too, but camera: false"},
		{"{text: sometimes}", "x.yaml:4"},
		{"{min_frames: 2}", "models.calibration.min_frames: 2 is outside [4, 4096]"},
		{"{max_frames: 100000}", "models.calibration.max_frames: 100000 is outside [4, 4096]"},
		{"{min_frames: 100, max_frames: 50}", "models.calibration.min_frames: 100 is more than max_frames (50)"},
		{"{min_span: -1s}", "models.calibration.min_span: -1s is outside"},
		{"{every: 10000h}", "models.calibration.every: 10000h0m0s is outside"},
		{"{shadow_every: -1}", "models.calibration.shadow_every: -1 is outside [0, 1000000]"},
		{"{shadow_batch: 101}", "models.calibration.shadow_batch: 101 is outside [0, 100]"},
		{"{shadow_window: 5000}", "models.calibration.shadow_window: 5000 is outside [0, 1000]"},
		{"{shadow_interval: -1m}", "models.calibration.shadow_interval: -1m0s is outside"},
		{"{min_mean_cosine: 1.5}", "models.calibration.min_mean_cosine: 1.5 is outside [0, 1]"},
		{"{min_text: -0.1}", "models.calibration.min_text: -0.1 is outside [0, 1]"},
		{"{check_texts: 1001}", "models.calibration.check_texts: 1001 is outside [0, 1000]"},
		{"{min_frames: many}", "x.yaml:4"},
	} {
		src := strings.Replace(base, "  clip: "+dir, "  clip: "+dir+"\n  calibration: "+c.value, 1)
		_, err := ParseConfig([]byte(src), "x.yaml")
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want a ConfigError containing %q", c.value, err, c.want)
		}
	}
}

// models.calibration.text reaches the child edged convert as --calibrate-text, beside the
// label sets or questions its text models are calibrated on; without it the flag is absent.
func TestCalibrationTextFlag(t *testing.T) {
	for _, text := range []bool{false, true} {
		o := CalibrationConfig{Text: text}.optionsFor(fieldBLIPVQA)
		in := gateInputs{Questions: []string{"how many shapes are there?"}, Thresholds: o.Thresholds, Text: o.Text}
		args := strings.Join(in.gateArgs(), " ")
		if got := strings.Count(args, "--calibrate-text"); got != map[bool]int{false: 0, true: 1}[text] || !strings.Contains(args, "--question how many shapes are there?") {
			t.Errorf("text %v: edged convert's gate flags %q", text, args)
		}
	}
}
