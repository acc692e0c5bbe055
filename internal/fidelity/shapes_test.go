package fidelity

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/shapes"
	"github.com/edged/edged/internal/shapes/shapestest"
	"github.com/edged/edged/models"
)

const (
	shapesCLIP  = "../../models/shapes/clip"
	shapesLabel = "../../configs/labels/shapes.yaml"
)

var (
	cameraFrames = shapestest.CameraFrames
	blackFrames  = shapestest.BlackFrames
)

func shapesGate(t *testing.T, frames string) Options {
	t.Helper()
	set, err := clip.LoadLabelSet(shapesLabel)
	if err != nil {
		t.Fatal(err)
	}
	return Options{Frames: frames, LabelSets: []*clip.LabelSet{set}}
}

// heldOutAccuracy labels 30 single-object scenes of the shapes world, drawn from a seed no
// calibration or check frame uses, and counts the top-1 labels that are the scene's truth.
func heldOutAccuracy(t *testing.T, b *bundle.Bundle) int {
	t.Helper()
	m, err := clip.Load(b, clip.Options{RunOptions: clip.RunOptions{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	set, err := clip.LoadLabelSet(shapesLabel)
	if err != nil {
		t.Fatal(err)
	}
	cls, err := m.Classifier(set)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(30, 30))
	right := 0
	for n := 0; n < 30; {
		s := shapes.Random(rng)
		if len(s.Objects) != 1 {
			continue
		}
		n++
		img, err := shapes.Render(s, 320, 240, shapes.Options{})
		if err != nil {
			t.Fatal(err)
		}
		emb, err := m.EmbedImage(img)
		if err != nil {
			t.Fatal(err)
		}
		scores, err := cls.Classify(emb)
		if err != nil {
			t.Fatal(err)
		}
		if scores[0].Label == s.Objects[0].Label() {
			right++
		}
	}
	return right
}

// The measured failure: the shapes CLIP calibrated on 16 black frames labels
// held-out scenes badly (9/30 when it was measured), and nothing said so. The gate, on
// camera frames held aside, refuses that model and the bundle is written at the safe
// precision instead, the manifest saying why with the gate's figures.
func TestGateRefusesBlackCalibration(t *testing.T) {
	out := filepath.Join(t.TempDir(), "clip")
	check := shapesGate(t, cameraFrames(t, 40, 2))
	b, report, err := ConvertChecked(models.Architectures, shapesCLIP, out,
		convert.Options{CalibrationDir: blackFrames(t, 16)}, check)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	WriteReport(&buf, *report)
	t.Logf("calibrated on black frames:\n%s", buf.String())
	if report.Passed || report.Frames != 40 {
		t.Fatalf("the gate passed a model calibrated on black frames (%d frames compared)", report.Frames)
	}
	if report.MeanCosine >= check.WithDefaults().Thresholds.MeanCosine && report.Top1Agreement >= check.WithDefaults().Thresholds.Top1 {
		t.Errorf("the gate failed for %v, but both mean cosine %.4f and top-1 %.3f are above the bars", report.Failures, report.MeanCosine, report.Top1Agreement)
	}
	if !strings.Contains(buf.String(), "gate: failed") {
		t.Errorf("the report does not say the gate failed")
	}
	m := b.Manifest
	if m.Precision != convert.SafePrecision.String() {
		t.Errorf("the refused model was written at %s, want the safe %v", m.Precision, convert.SafePrecision)
	}
	c := m.Calibration
	if c == nil || c.Images != 16 || c.Check == nil || c.Check.Passed || c.Check.Frames != 40 || !strings.Contains(c.Fallback, "fidelity gate") {
		t.Fatalf("manifest calibration %+v", c)
	}
	if c.Check.MeanCosine != report.MeanCosine || c.Check.Top1Compared != 40 {
		t.Errorf("manifest records %+v, the report %+v", *c.Check, *report)
	}
	// What the gate kept out: the calibrated model itself, converted the same way.
	bad, err := models.Convert(shapesCLIP, filepath.Join(t.TempDir(), "bad"), convert.Options{Precision: graph.Int8Full, CalibrationDir: blackFrames(t, 16)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the refused model labels %d/30 held-out scenes; the safe one %d/30", heldOutAccuracy(t, bad), heldOutAccuracy(t, b))
}

// Calibrated on the synthetic camera's own frames, the same conversion passes the gate on
// other frames of that camera, keeps full int8, and labels at least 29 of 30 held-out scenes.
func TestGatePassesCameraCalibration(t *testing.T) {
	out := filepath.Join(t.TempDir(), "clip")
	b, report, err := ConvertChecked(models.Architectures, shapesCLIP, out,
		convert.Options{CalibrationDir: cameraFrames(t, 64, 1)}, shapesGate(t, cameraFrames(t, 40, 2)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	WriteReport(&buf, *report)
	t.Logf("calibrated on camera frames:\n%s", buf.String())
	if !report.Passed {
		t.Fatalf("the gate refused a model calibrated on camera frames: %s", Why(*report))
	}
	m := b.Manifest
	if m.Precision != "int8" {
		t.Fatalf("written at %s, want int8", m.Precision)
	}
	if c := m.Calibration; c == nil || c.Images != 64 || c.Fallback != "" || c.Check == nil || !c.Check.Passed || c.Check.Frames != 40 {
		t.Fatalf("manifest calibration %+v", c)
	}
	if right := heldOutAccuracy(t, b); right < 29 {
		t.Errorf("labels %d/30 held-out scenes right, want ≥ 29", right)
	} else {
		t.Logf("labels %d/30 held-out scenes right", right)
	}
}

// The frames the gate checks on must be held aside: the calibration folder is refused.
func TestGateNeedsFramesHeldAside(t *testing.T) {
	dir := cameraFrames(t, 2, 1)
	_, _, err := ConvertChecked(models.Architectures, shapesCLIP, filepath.Join(t.TempDir(), "clip"), convert.Options{CalibrationDir: dir}, shapesGate(t, dir))
	if err == nil || !strings.Contains(err.Error(), "hold others aside") {
		t.Errorf("checking on the calibration images: %v", err)
	}
}

// A checkpoint that is not a shapes model (the shapes CLIP with one byte of its config
// changed, so its hash differs) converts at full int8 without calibration images only at the
// safe precision, and says so once; the gate has nothing to judge.
func TestNonShapesCheckpointConvertsSafe(t *testing.T) {
	ck := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"} {
		data, err := os.ReadFile(filepath.Join(shapesCLIP, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "config.json" {
			data = append(data, ' ')
		}
		if err := os.WriteFile(filepath.Join(ck, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	opts := convert.Options{Precision: graph.Int8Full, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	b, err := models.Convert(ck, filepath.Join(t.TempDir(), "b"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if b.Manifest.Precision != "int8-dynamic" || b.Manifest.Calibration == nil || b.Manifest.Calibration.Source != convert.CalibrationNone {
		t.Errorf("bundle at %s, calibration %+v", b.Manifest.Precision, b.Manifest.Calibration)
	}
	for _, f := range b.Manifest.Files {
		if f.Precision != "" && f.Precision != "int8-dynamic" {
			t.Errorf("%s is %s", f.Path, f.Precision)
		}
	}
	if strings.Count(logs.String(), "level=WARN") != 1 || !strings.Contains(logs.String(), "int8 weights, float activations") {
		t.Errorf("the log says:\n%s", logs.String())
	}
	// The same through the gate: no calibrated model, no report, the safe bundle.
	logs.Reset()
	b, report, err := ConvertChecked(models.Architectures, ck, filepath.Join(t.TempDir(), "c"), opts, shapesGate(t, cameraFrames(t, 2, 2)))
	if err != nil || report != nil || b.Manifest.Precision != "int8-dynamic" {
		t.Errorf("through the gate: %v, report %v, precision %s", err, report, b.Manifest.Precision)
	}
	// The shipped shapes CLIP itself calibrates on shapes scenes, silently.
	logs.Reset()
	b, err = models.Convert(shapesCLIP, filepath.Join(t.TempDir(), "s"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if c := b.Manifest.Calibration; b.Manifest.Precision != "int8" || c == nil || c.Source != convert.CalibrationShapes || logs.Len() != 0 {
		t.Errorf("the shapes CLIP: %s, calibration %+v, log %q", b.Manifest.Precision, c, logs.String())
	}
}

// BLIP through the same gate: the shapes captioner calibrated on black frames changes its
// greedy captions and is refused; calibrated on camera frames it keeps them. The VQA model
// calibrated on camera frames answers the demo's standing questions as the float model does.
func TestBLIPGate(t *testing.T) {
	check := cameraFrames(t, 12, 2)
	for _, tc := range []struct {
		model, calibration string
		questions          []string
		passed             bool
	}{
		{"blip_caption", blackFrames(t, 16), nil, false},
		{"blip_caption", cameraFrames(t, 32, 1), nil, true},
		{"blip_vqa", cameraFrames(t, 32, 1), []string{"how many shapes are there?", "what color is the background?"}, true},
	} {
		b, report, err := ConvertChecked(models.Architectures, "../../models/shapes/"+tc.model, filepath.Join(t.TempDir(), "b"),
			convert.Options{CalibrationDir: tc.calibration}, Options{Frames: check, Questions: tc.questions, TextFrames: 8})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		WriteReport(&buf, *report)
		t.Logf("%s calibrated on %s:\n%s", tc.model, tc.calibration, buf.String())
		wantTexts := 8 * max(1, len(tc.questions))
		if report.Passed != tc.passed || report.Frames != 12 || report.TextCompared != wantTexts {
			t.Errorf("%s: passed %v on %d frames, %d texts; want %v, 12, %d", tc.model, report.Passed, report.Frames, report.TextCompared, tc.passed, wantTexts)
		}
		want := "int8"
		if !tc.passed {
			want = convert.SafePrecision.String()
		}
		if b.Manifest.Precision != want {
			t.Errorf("%s: written at %s, want %s", tc.model, b.Manifest.Precision, want)
		}
	}
}

// The daemon's shadow checks compare a full-int8 model with the safe one (int8 weights, float
// activations) rather than fp32: the two share the text tower file, so one classifier serves
// both, and the verdicts against the safe model are the gate's: the model calibrated on black
// frames is refused on the camera's frames, the one calibrated on the camera passes.
func TestSafeModelAsReference(t *testing.T) {
	dir := t.TempDir()
	conv := func(name string, o convert.Options) *bundle.Bundle {
		b, err := models.Convert(shapesCLIP, filepath.Join(dir, name), o)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	safe := conv("safe", convert.Options{Precision: convert.SafePrecision})
	black := conv("black", convert.Options{Precision: graph.Int8Full, CalibrationDir: blackFrames(t, 16)})
	camera := conv("camera", convert.Options{Precision: graph.Int8Full, CalibrationDir: cameraFrames(t, 64, 1)})
	check := shapesGate(t, cameraFrames(t, 40, 2))
	for _, c := range []struct {
		name   string
		cand   *bundle.Bundle
		passed bool
	}{{"calibrated on black frames", black, false}, {"calibrated on the camera", camera, true}} {
		pair, err := OpenPair(safe, c.cand, check)
		if err != nil {
			t.Fatal(err)
		}
		p := pair.(*ownedPair).Pair.(*CLIPPair)
		if p.refCls[0] != p.candCls[0] {
			t.Errorf("%s: the safe and the int8 model share the text tower, but each got its own classifier", c.name)
		}
		pair.Close()
		r, err := Compare(safe, c.cand, check)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s against the safe model: %s (mean cosine %.4f, worst %.4f, top-1 %.3f)", c.name, Why(r), r.MeanCosine, r.WorstCosine, r.Top1Agreement)
		if r.Passed != c.passed || r.Frames != 40 {
			t.Errorf("%s against the safe model: %s on %d frames, want passed %v on 40", c.name, Why(r), r.Frames, c.passed)
		}
	}
}
