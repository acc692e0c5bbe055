package main

import (
	"bytes"
	"fmt"
	"image"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/shapes"
	"github.com/edged/edged/models"
)

// sceneFrames renders n random scenes of the shapes world from seed into a new folder.
func sceneFrames(t *testing.T, n int, seed uint64) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(seed, seed))
	for i := 0; i < n; i++ {
		renderScene(t, dir, fmt.Sprintf("frame_%02d.png", i), shapes.Random(rng))
	}
	return dir
}

// TestConvertCheck: edged convert --calibration DIR --check DIR2 prints the gate's report and
// keeps the int8 model that passes; calibrated on black frames it prints why the gate failed
// and writes the safe precision. The manifest records the figures either way. 48 frames of
// the world calibrate it: on 24, one held-aside frame's top-1 flipped (11/12) under TFLite's
// own int8 arithmetic (--delegate none, and edged's kernels, which equal it), and passed only
// under XNNPACK's rounding; on 48 all three agree 12/12.
func TestConvertCheck(t *testing.T) {
	check := sceneFrames(t, 12, 2)
	black := t.TempDir()
	for i := 0; i < 4; i++ {
		writePNG(t, filepath.Join(black, fmt.Sprintf("black_%d.png", i)), image.NewGray(image.Rect(0, 0, 160, 120)))
	}
	for _, tc := range []struct {
		calibration, precision, say string
		passed                      bool
	}{
		{sceneFrames(t, 48, 1), "int8", "gate: passed", true},
		{black, "int8-dynamic", "gate: failed: mean cosine", false},
	} {
		out := filepath.Join(t.TempDir(), "bundle")
		var stdout, stderr bytes.Buffer
		code := convertCommand([]string{"--from", shapesCLIP, "--out", out, "--precision", "int8", "--calibration", tc.calibration,
			"--check", check, "--labels", "../../configs/labels/shapes.yaml"}, &stdout, &stderr)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		t.Logf("calibrated on %s:\n%s", tc.calibration, stdout.String())
		for _, want := range []string{"on 12 frames held aside", "top-1 labels: ", tc.say, "at " + tc.precision} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("the output does not say %q", want)
			}
		}
		if !tc.passed && !strings.Contains(stdout.String(), "not full int8: the fidelity gate refused") {
			t.Errorf("the output does not say why the bundle is not full int8")
		}
		b, err := bundle.Read(out)
		if err != nil {
			t.Fatal(err)
		}
		c := b.Manifest.Calibration
		if b.Manifest.Precision != tc.precision || c == nil || c.Check == nil || c.Check.Passed != tc.passed || c.Check.Frames != 12 {
			t.Errorf("manifest: %s, calibration %+v", b.Manifest.Precision, c)
		}
	}
	for _, args := range [][]string{
		{"--from", shapesCLIP, "--out", t.TempDir(), "--precision", "fp16", "--check", check},
		{"--from", shapesCLIP, "--out", t.TempDir(), "--check", check, "--labels", "missing.yaml"},
	} {
		var stdout, stderr bytes.Buffer
		if code := convertCommand(args, &stdout, &stderr); code != 2 {
			t.Errorf("convert %v: exit %d, want 2 (%s)", args, code, stderr.String())
		}
	}
}

// TestConvertCheckReference: --check-reference compares the int8 model with a bundle of the
// same checkpoint instead of the float model: the shapes captioner against its int8-dynamic
// conversion (the same text models, so only the vision tower's change is judged) passes, the
// report and the manifest say what it was compared with, and a bundle of another checkpoint
// is refused naming it.
func TestConvertCheckReference(t *testing.T) {
	const captioner = "../../models/shapes/blip_caption"
	check := sceneFrames(t, 8, 2)
	safe := filepath.Join(t.TempDir(), "safe")
	var stdout, stderr bytes.Buffer
	if code := convertCommand([]string{"--from", captioner, "--out", safe, "--precision", "int8-dynamic"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := filepath.Join(t.TempDir(), "bundle")
	stdout.Reset()
	code := convertCommand([]string{"--from", captioner, "--out", out, "--precision", "int8", "--calibration", sceneFrames(t, 24, 1),
		"--check", check, "--check-reference", safe, "--check-texts", "8"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	t.Logf("%s", stdout.String())
	for _, want := range []string{"against the int8-dynamic model, on 8 frames held aside", "greedy captions/answers: 8/8 identical", "gate: passed", "at int8"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the output does not say %q", want)
		}
	}
	b, err := bundle.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if c := b.Manifest.Calibration; b.Manifest.Precision != "int8" || c == nil || c.Check == nil || c.Check.Reference != "int8-dynamic" || !c.Check.Passed {
		t.Errorf("manifest: %s, calibration %+v", b.Manifest.Precision, c)
	}

	other := filepath.Join(t.TempDir(), "clip")
	if code := convertCommand([]string{"--from", shapesCLIP, "--out", other, "--precision", "int8-dynamic"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	stderr.Reset()
	code = convertCommand([]string{"--from", captioner, "--out", filepath.Join(t.TempDir(), "x"), "--precision", "int8", "--calibration", sceneFrames(t, 8, 1),
		"--check", check, "--check-reference", other}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "the reference bundle "+other+" is a CLIPModel") {
		t.Errorf("a CLIP bundle as the captioner's reference: exit %d, %q", code, stderr.String())
	}
}

// TestConvertCalibrateTextCLIP: edged convert --calibrate-text on the shapes CLIP calibrates
// its text tower on the label set's prompts, prints the text gate's figures, and writes the
// text tower at full int8; the manifest says what it was calibrated on and edged models
// shows the part as "text int8". Without --calibrate-text the text tower stays int8-dynamic.
// --calibrate-text is refused before any conversion, saying why, without --check, for a BLIP
// model without calibration images, for a BLIP retrieval model (no text model of its is
// calibrated), and for a CLIP checkpoint other than the shapes model's without calibration
// images (its vision tower would not convert at full int8).
func TestConvertCalibrateTextCLIP(t *testing.T) {
	check := sceneFrames(t, 12, 2)
	cache := t.TempDir()
	for _, tc := range []struct {
		name, text string
		flags      []string
	}{
		{"calibrated", "int8", []string{"--calibrate-text"}},
		{"plain", "int8-dynamic", nil},
		// Bars no int8 model meets: the text tower is refused, saying why, and so is the bundle.
		{"refused", "int8-dynamic", []string{"--calibrate-text", "--min-mean-cosine", "0.99999"}},
	} {
		out := filepath.Join(models.BundlesDir(cache), tc.name)
		var stdout, stderr bytes.Buffer
		args := append([]string{"--from", shapesCLIP, "--out", out, "--precision", "int8", "--check", check, "--labels", "../../configs/labels/shapes.yaml"}, tc.flags...)
		if code := convertCommand(args, &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.name, code, stderr.String())
		}
		t.Logf("%s:\n%s", tc.name, stdout.String())
		b, err := bundle.Read(out)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := b.Manifest.File("text")
		c := b.Manifest.Calibration
		if tc.name == "refused" {
			if !strings.Contains(stdout.String(), "gate: failed: mean cosine 0.99") || !strings.Contains(stdout.String(), "; it stays int8-dynamic") ||
				f.Precision != "int8-dynamic" || c == nil || c.Text != "" {
				t.Errorf("refused: text tower %s, calibration %+v", f.Precision, c)
			}
			continue
		}
		if b.Manifest.Precision != "int8" || f.Precision != tc.text || c == nil || c.Check == nil || !c.Check.Passed {
			t.Fatalf("%s: bundle at %s, text tower %s, calibration %+v", tc.name, b.Manifest.Precision, f.Precision, c)
		}
		if tc.flags == nil {
			if c.Text != "" || strings.Contains(stdout.String(), "text tower at full int8") {
				t.Errorf("without --calibrate-text: calibration text %q, output %q", c.Text, stdout.String())
			}
			continue
		}
		for _, want := range []string{"text tower at full int8, against the int8-dynamic text tower: text embeddings of 15 prompts: mean cosine 0.99",
			"top-1 labels 12/12 the same on 12 frames", "gate: passed", "text.tflite", "bytes (int8)"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("the output does not say %q", want)
			}
		}
		if !strings.HasPrefix(c.Text, "text at full int8, calibrated on the 225 texts the label sets shapes embed") {
			t.Errorf("manifest calibration text %q", c.Text)
		}
	}
	code, table, stderr := runModelsCmd("--cache", cache)
	if code != 0 {
		t.Fatalf("edged models: exit %d: %s", code, stderr)
	}
	t.Logf("edged models:\n%s", table)
	for _, line := range strings.Split(table, "\n") {
		for name, wants := range map[string][]string{"calibrated": {"text int8", "minmax; text calibrated too"}, "plain": {"text int8-dynamic"}} {
			for _, want := range wants {
				if strings.HasPrefix(line, name+" ") && !strings.Contains(line, want) {
					t.Errorf("edged models lists %s without %q: %s", name, want, line)
				}
			}
		}
		if strings.HasPrefix(line, "calibrated ") && strings.Contains(line, "text int8-dynamic") {
			t.Errorf("edged models lists the calibrated text tower at int8-dynamic: %s", line)
		}
	}

	out := filepath.Join(t.TempDir(), "b")
	for _, args := range [][]string{
		{"--from", "../../models/shapes/blip_caption", "--out", out, "--precision", "int8", "--check", check, "--calibrate-text"},
		{"--from", shapesCLIP, "--out", out, "--precision", "int8", "--calibrate-text"},
		{"--from", "../../models/shapes/blip_itm", "--out", out, "--precision", "int8", "--calibration", check, "--check", sceneFrames(t, 4, 3), "--calibrate-text"},
		{"--from", "../../clip/testdata/clip_tiny", "--out", out, "--precision", "int8", "--check", check, "--labels", "../../configs/labels/shapes.yaml", "--calibrate-text"},
	} {
		var stdout, stderr bytes.Buffer
		start := time.Now()
		code := convertCommand(args, &stdout, &stderr)
		want := map[string]string{shapesCLIP: "give frames to check on with --check", "../../models/shapes/blip_caption": "give them with --calibration",
			"../../models/shapes/blip_itm":  "a BlipForImageTextRetrieval has no text models that generate",
			"../../clip/testdata/clip_tiny": "a full-int8 vision tower, which needs calibration images for this checkpoint: give them with --calibration"}[args[1]]
		if code != 2 || !strings.Contains(stderr.String(), want) {
			t.Errorf("%v: exit %d, %q", args, code, stderr.String())
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: refused, but %s was written", args, out)
		}
		t.Logf("%v refused in %v: %s", args, time.Since(start), stderr.String())
	}
}
