package main

import (
	"bytes"
	"fmt"
	"image"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/shapes"
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
// and writes the safe precision. The manifest records the figures either way.
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
		{sceneFrames(t, 24, 1), "int8", "gate: passed", true},
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
