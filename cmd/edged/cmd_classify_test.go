package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/shapes"
	"github.com/edged/edged/models"
)

const shapesCLIP = "../../models/shapes/clip"

// renderScene writes a shapes scene as a PNG file and returns its path.
func renderScene(t *testing.T, dir, name string, s shapes.Scene) string {
	t.Helper()
	img, err := shapes.Render(s, 160, 120, shapes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	writePNG(t, path, img)
	return path
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func runClassifyCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = classify(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestClassifyJSONContract: edged classify --json prints one object per image per line,
// {"image": PATH, "labels": [{"label": ..., "score": ..., "share": ...}, ...]} with exactly
// these fields, best first (by share), K labels; an unreadable image is reported on stderr and the others are still
// classified, with a non-zero exit. The shipped shapes checkpoint is converted on first use
// into the --cache folder.
func TestClassifyJSONContract(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	red := renderScene(t, dir, "red.png", shapes.Scene{Background: "black", Objects: []shapes.Object{{Color: "red", Shape: "circle", X: 0.5, Y: 0.5, Size: 0.25}}})
	blue := renderScene(t, dir, "blue.png", shapes.Scene{Background: "white", Objects: []shapes.Object{{Color: "blue", Shape: "square", X: 0.5, Y: 0.5, Size: 0.25}}})
	broken := filepath.Join(dir, "broken.png")
	os.WriteFile(broken, []byte("not a png"), 0o644)
	missing := filepath.Join(dir, "missing.png")

	code, stdout, stderr := runClassifyCmd("--model", shapesCLIP, "--cache", cache, "--labels", "../../configs/labels/shapes.yaml",
		"--top", "3", "--json", "--threads", "1", red, broken, missing, blue)
	if code != 1 {
		t.Errorf("exit %d with unreadable images, want 1", code)
	}
	for _, bad := range []string{broken, missing} {
		if !strings.Contains(stderr, bad) {
			t.Errorf("stderr does not name %s:\n%s", bad, stderr)
		}
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines on stdout, want 2:\n%s", len(lines), stdout)
	}
	for i, want := range []struct{ image, top string }{{red, "red circle"}, {blue, "blue square"}} {
		// The field names are the contract: decode into a generic map and check them all.
		var raw map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &raw); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if keys := sortedKeys(raw); !reflect.DeepEqual(keys, []string{"image", "labels"}) {
			t.Errorf("line %d has fields %v", i, keys)
		}
		if raw["image"] != want.image {
			t.Errorf("line %d: image %v, want %s", i, raw["image"], want.image)
		}
		labels, _ := raw["labels"].([]any)
		if len(labels) != 3 {
			t.Fatalf("line %d: %d labels, want --top 3", i, len(labels))
		}
		prev := 2.0
		for _, l := range labels {
			entry := l.(map[string]any)
			if keys := sortedKeys(entry); !reflect.DeepEqual(keys, []string{"label", "score", "share"}) {
				t.Errorf("label entry has fields %v", keys)
			}
			score, share := entry["score"].(float64), entry["share"].(float64)
			if share > prev || score < 0 || score > 1 || share < 0 || share > 1 {
				t.Errorf("not probabilities sorted by share: %s", lines[i])
			}
			prev = share
		}
		if score := labels[0].(map[string]any)["score"].(float64); score < 0.5 {
			t.Errorf("%s: the label shown scores %v", want.image, score)
		}
		if top := labels[0].(map[string]any)["label"]; top != want.top {
			t.Errorf("%s: top label %v, want %s", want.image, top, want.top)
		}
	}
	// One cache layout for every command and the daemon: bundles in models/, CLIP text
	// embeddings in text/.
	bundles, _ := filepath.Glob(filepath.Join(cache, "models", "clipmodel-*"))
	if len(bundles) != 1 || !strings.HasSuffix(bundles[0], "-int8") {
		t.Errorf("cache holds bundles %v, want one at CLIP's default precision, int8", bundles)
	}
	if texts, _ := filepath.Glob(filepath.Join(cache, "text", "*", "*.f32")); len(texts) != 15+15*14 {
		t.Errorf("%d cached text embeddings, want the 15 labels' and their 210 pairs (the model's contrast)", len(texts))
	}

	// The readable table, with --label flags (after the image, too).
	code, stdout, stderr = runClassifyCmd("--model", shapesCLIP, "--cache", cache, "--label", "red circle", blue, "--label", "blue square", "--threads", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(stdout, blue+"\n  label") || !strings.Contains(stdout, "\n  blue square") || !strings.Contains(stdout, "red circle") {
		t.Errorf("table:\n%s", stdout)
	}
}

func TestClassifyErrors(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	img := renderScene(t, dir, "scene.png", shapes.Scene{Background: "gray", Objects: []shapes.Object{{Color: "green", Shape: "triangle", X: 0.5, Y: 0.5, Size: 0.25}}})
	emptySet := filepath.Join(dir, "empty.yaml")
	os.WriteFile(emptySet, []byte("name: nothing\nlabels: []\n"), 0o644)
	// A bundle without a tokenizer: clip_tiny converted at fp32.
	tiny := filepath.Join(dir, "tiny")
	if _, err := models.Convert("../../clip/testdata/clip_tiny", tiny, convert.Options{}); err != nil {
		t.Fatal(err)
	}
	// A checkpoint whose weights file is corrupt.
	corrupt := filepath.Join(dir, "corrupt")
	os.Mkdir(corrupt, 0o755)
	for _, name := range []string{"config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"} {
		data, err := os.ReadFile(filepath.Join(shapesCLIP, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "model.safetensors" {
			data = data[:len(data)/2]
		}
		os.WriteFile(filepath.Join(corrupt, name), data, 0o644)
	}
	// An image cut short, as a copy interrupted: an error, not a classification of what was read.
	whole, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.png")
	os.WriteFile(truncated, whole[:len(whole)*2/3], 0o644)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--model", corrupt, "--label", "cat", img}, 1, "model.safetensors"},
		{[]string{"--model", shapesCLIP, "--label", "cat", truncated}, 1, "truncated.png: the png file is truncated"},
		{[]string{"--model", shapesCLIP, img}, 1, "no labels"},
		{[]string{"--model", shapesCLIP, "--labels", emptySet, "--label", "x", img}, 1, "not both"},
		{[]string{"--model", shapesCLIP, "--labels", emptySet, img}, 1, emptySet + ":2: labels: no labels"},
		{[]string{"--model", shapesCLIP, "--labels", filepath.Join(dir, "nope.yaml"), img}, 1, "nope.yaml"},
		{[]string{"--model", tiny, "--label", "cat", img}, 1, "no tokenizer"},
		{[]string{"--model", dir, "--label", "cat", img}, 1, "neither a bundle"},
		{[]string{"--model", shapesCLIP, "--label", "cat", "--delegate", "tpu", img}, 1, "tpu"},
		{[]string{"--model", shapesCLIP, "--label", "cat"}, 2, "usage"},
		{[]string{"--label", "cat", img}, 2, "usage"},
	}
	for _, c := range cases {
		args := append([]string{"--cache", cache, "--threads", "1"}, c.args...)
		code, _, stderr := runClassifyCmd(args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("classify %v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

func TestConvertCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bundle")
	if code := runConvert([]string{"--from", shapesCLIP, "--out", out, "--precision", "fp16"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	b, err := bundle.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if b.Manifest.Precision != "fp16" || b.Manifest.EdgedVersion != version || !b.HasFile("tokenizer") {
		t.Errorf("manifest %+v", b.Manifest)
	}
	for _, args := range [][]string{
		{"--from", shapesCLIP, "--out", out, "--precision", "int4"},
		{"--from", shapesCLIP, "--out", out, "--precision", "fp32", "--calibration", "."},
		{"--out", out},
	} {
		if code := runConvert(args); code != 2 {
			t.Errorf("convert %v: exit %d, want 2", args, code)
		}
	}
	if code := runConvert([]string{"--from", t.TempDir(), "--out", out}); code == 0 {
		t.Error("converting an empty folder succeeded")
	}
}

func sortedKeys(m map[string]any) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	return keys
}
