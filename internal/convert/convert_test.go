package convert

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/hf"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/runtime/tflite"
)

// testArch is a one-layer "architecture" registered for these tests: y = x·Wᵀ with W from
// the checkpoint's "dense.weight" [2, 3].
const testArch = "EdgedTestDense"

var testConversions atomic.Int32 // how many times testArch converted

// testArchitectures are the architectures these tests convert.
var testArchitectures = Registry{}

func init() {
	testArchitectures[testArch] = Architecture{
		Convert: func(src *Source, w *Writer, opts Options) error {
			testConversions.Add(1)
			wt, err := src.Weights.Float32("dense.weight", 2, 3)
			if err != nil {
				return err
			}
			g := graph.New("dense")
			x := g.Input("x", graph.Float32, 1, 3)
			g.Output("y", g.FullyConnected(x, g.Const("dense.weight", wt, 2, 3), nil))
			lower := graph.LowerOptions{Precision: opts.Precision}
			if opts.Precision == graph.Int8Full {
				ranges, info, err := CalibrateImages(g, opts, "dense: calibrate", func(ip *tflite.Interpreter, img image.Image) error {
					r, gr, b, _ := img.At(0, 0).RGBA()
					return ip.Input(0).SetFloat32([]float32{float32(r) / 65535, float32(gr) / 65535, float32(b) / 65535})
				})
				if err != nil {
					return err
				}
				w.SetCalibration(info)
				lower.Ranges = ranges
			}
			model, err := g.MarshalWith(lower)
			if err != nil {
				return err
			}
			if err := w.AddModel("dense", opts.Precision.String(), model); err != nil {
				return err
			}
			w.SetValue("answer", 42)
			return nil
		},
		RandomInit: func(src *Source, name string, shape []int) Init { return Init{Mean: 1, Std: 0.5} },
		Revision:   3,
	}
	testArchitectures["EdgedTestFailing"] = Architecture{
		Convert: func(src *Source, w *Writer, opts Options) error {
			if err := w.AddFile("partial", "partial.bin", []byte("half")); err != nil {
				return err
			}
			return errors.New("the architecture gave up halfway")
		},
	}
}

// checkpoint writes a checkpoint folder of arch with the dense weight and a tokenizer file.
func checkpoint(t *testing.T, arch string) string {
	t.Helper()
	dir := t.TempDir()
	config := `{"architectures": ["` + arch + `"], "model_type": "test"}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(`{"model": {}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ts := []hf.Tensor{hf.F32Tensor("dense.weight", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6})}
	if err := hf.WriteSafetensorsFile(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestUnknownArchitecture(t *testing.T) {
	_, err := testArchitectures.Lookup("GPT2LMHeadModel")
	if err == nil || !strings.Contains(err.Error(), `unsupported architecture "GPT2LMHeadModel"`) {
		t.Fatalf("Lookup: %v", err)
	}
	_, err = testArchitectures.Convert(checkpoint(t, "GPT2LMHeadModel"), filepath.Join(t.TempDir(), "b"), Options{})
	if err == nil || !strings.Contains(err.Error(), `unsupported architecture "GPT2LMHeadModel"`) {
		t.Fatalf("Convert: %v", err)
	}
}

func TestConvertWritesBundle(t *testing.T) {
	ck := checkpoint(t, testArch)
	out := filepath.Join(t.TempDir(), "bundle")
	b, err := testArchitectures.Convert(ck, out, Options{Precision: graph.FP16, EdgedVersion: "test-1"})
	if err != nil {
		t.Fatal(err)
	}
	m := b.Manifest
	if m.Architecture != testArch || m.Precision != "fp16" || m.EdgedVersion != "test-1" || m.Format != bundle.ManifestFormat {
		t.Errorf("manifest header %+v", m)
	}
	hash, err := hf.Hash(ck)
	if err != nil {
		t.Fatal(err)
	}
	if m.Source.Hash != hash || m.Source.Path != ck || m.Source.RandomInit {
		t.Errorf("source %+v, want hash %s of %s", m.Source, hash, ck)
	}
	if v, err := m.Int("answer"); err != nil || v != 42 {
		t.Errorf("value answer = %v, %v", v, err)
	}
	if _, err := m.Text("answer"); err == nil {
		t.Error("a number read as text")
	}
	f, ok := m.File("dense")
	if !ok || f.Path != "dense.tflite" || f.Precision != "fp16" {
		t.Fatalf("dense file %+v", f)
	}
	if len(f.Inputs) != 1 || f.Inputs[0].Name != "x" || f.Inputs[0].DType != "float32" || len(f.Outputs) != 1 || f.Outputs[0].Name != "y" {
		t.Errorf("dense tensors %+v / %+v", f.Inputs, f.Outputs)
	}
	for _, role := range []string{bundle.RoleConfig, bundle.RoleTokenizer} {
		if !b.HasFile(role) {
			t.Errorf("no %s copied", role)
		}
	}
	if b.HasFile(bundle.RoleVocab) || b.HasFile(bundle.RolePreprocessorConfig) {
		t.Error("a file the checkpoint does not have is listed")
	}
	if err := b.Verify(); err != nil {
		t.Fatal(err)
	}
	// Nothing else is left beside the bundle.
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries, want only the bundle", len(entries))
	}
	// The model runs.
	path, _ := b.Path("dense")
	model, err := tflite.LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	ip, err := tflite.NewInterpreter(model, tflite.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	ip.Input(0).SetFloat32([]float32{1, 0, 1})
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	y, _ := ip.Output(0).Float32()
	if y[0] != 4 || y[1] != 10 {
		t.Errorf("y = %v, want [4 10]", y)
	}
}

func TestConvertFailureLeavesNothing(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "bundle")
	_, err := testArchitectures.Convert(checkpoint(t, "EdgedTestFailing"), out, Options{})
	if err == nil || !strings.Contains(err.Error(), "gave up halfway") {
		t.Fatalf("err = %v", err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("a failed conversion left %d entries (%s...)", len(entries), entries[0].Name())
	}
}

func TestConvertTargets(t *testing.T) {
	ck := checkpoint(t, testArch)
	// A folder that is not a bundle is never overwritten.
	notBundle := t.TempDir()
	os.WriteFile(filepath.Join(notBundle, "holiday.jpg"), []byte("x"), 0o644)
	if _, err := testArchitectures.Convert(ck, notBundle, Options{}); err == nil || !strings.Contains(err.Error(), "not a bundle") {
		t.Errorf("overwrote a folder that is not a bundle: %v", err)
	}
	if _, err := os.Stat(filepath.Join(notBundle, "holiday.jpg")); err != nil {
		t.Error(err)
	}
	// An empty folder and an existing bundle are fine; the bundle is replaced.
	out := filepath.Join(t.TempDir(), "bundle")
	os.Mkdir(out, 0o755)
	if _, err := testArchitectures.Convert(ck, out, Options{Precision: graph.FP32}); err != nil {
		t.Fatal(err)
	}
	b, err := testArchitectures.Convert(ck, out, Options{Precision: graph.Int8Dynamic})
	if err != nil {
		t.Fatal(err)
	}
	if b.Manifest.Precision != "int8-dynamic" {
		t.Errorf("replaced bundle is %s", b.Manifest.Precision)
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 {
		t.Errorf("%d entries beside the bundle after replacing it", len(entries)-1)
	}
}

func TestConvertBadCheckpoints(t *testing.T) {
	cases := map[string]func(dir string){
		"config.json": func(dir string) { os.Remove(filepath.Join(dir, "config.json")) },
		"bad JSON": func(dir string) {
			os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"architectures": [`), 0o644)
		},
		"no architectures listed": func(dir string) {
			os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type": "clip"}`), 0o644)
		},
		"model.safetensors": func(dir string) {
			// A corrupt header: the length prefix claims more than the file holds.
			os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte{0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'}, 0o644)
		},
		`"dense.weight"`: func(dir string) {
			ts := []hf.Tensor{hf.F32Tensor("other.weight", []int{2, 3}, make([]float32, 6))}
			hf.WriteSafetensorsFile(filepath.Join(dir, "model.safetensors"), ts, nil)
		},
		"shape": func(dir string) {
			ts := []hf.Tensor{hf.F32Tensor("dense.weight", []int{3, 2}, make([]float32, 6))}
			hf.WriteSafetensorsFile(filepath.Join(dir, "model.safetensors"), ts, nil)
		},
	}
	for want, spoil := range cases {
		t.Run(want, func(t *testing.T) {
			dir := checkpoint(t, testArch)
			spoil(dir)
			_, err := testArchitectures.Convert(dir, filepath.Join(t.TempDir(), "b"), Options{})
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want it to mention %s", err, want)
			} else {
				t.Log(err)
			}
		})
	}
}

func TestOpenConvertsOnceIntoCache(t *testing.T) {
	ck := checkpoint(t, testArch)
	cache := t.TempDir()
	before := testConversions.Load()
	b1, err := testArchitectures.Open(ck, cache, "fp16", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b1.Dir, cache) || !strings.HasSuffix(b1.Dir, "-fp16") {
		t.Errorf("cached bundle at %s", b1.Dir)
	}
	b2, err := testArchitectures.Open(ck, cache, "fp16", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b2.Dir != b1.Dir || testConversions.Load()-before != 1 {
		t.Errorf("second Open converted again (%d conversions) or moved (%s)", testConversions.Load()-before, b2.Dir)
	}
	// Another precision is another entry; the architecture's default applies for "".
	b3, err := testArchitectures.Open(ck, cache, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b3.Manifest.Precision != "fp32" || b3.Dir == b1.Dir {
		t.Errorf("default precision bundle %s at %s", b3.Manifest.Precision, b3.Dir)
	}
	// An entry an edged of another converter revision wrote is converted again.
	if b1.Manifest.Revision != 3 {
		t.Errorf("manifest revision %d; the test architecture is at 3", b1.Manifest.Revision)
	}
	mpath := filepath.Join(b1.Dir, bundle.ManifestName)
	old, _ := os.ReadFile(mpath)
	os.WriteFile(mpath, []byte(strings.Replace(string(old), `"revision": 3`, `"revision": 2`, 1)), 0o644)
	n := testConversions.Load()
	if b, err := testArchitectures.Open(ck, cache, "fp16", Options{}); err != nil || b.Manifest.Revision != 3 || testConversions.Load() != n+1 {
		t.Errorf("a revision-2 entry was not converted again: %v, %d conversions", err, testConversions.Load()-n)
	}
	// A damaged entry is converted again.
	p, _ := b1.Path("dense")
	os.WriteFile(p, []byte("junk"), 0o644)
	if _, err := testArchitectures.Open(ck, cache, "fp16", Options{}); err != nil {
		t.Fatal(err)
	}
	if err := b1.Verify(); err != nil {
		t.Errorf("damaged cache entry not replaced: %v", err)
	}
	// Changed weights are another checkpoint.
	ts := []hf.Tensor{hf.F32Tensor("dense.weight", []int{2, 3}, []float32{6, 5, 4, 3, 2, 1})}
	hf.WriteSafetensorsFile(filepath.Join(ck, "model.safetensors"), ts, nil)
	b4, err := testArchitectures.Open(ck, cache, "fp16", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b4.Dir == b1.Dir {
		t.Error("a checkpoint with new weights reused the old cache entry")
	}
	// The checkpoint's hash is remembered with its files' stamps: a planted memo is believed
	// while the files are unchanged (so Open does not read every weight byte each time).
	memos, _ := filepath.Glob(filepath.Join(cache, "checkpoint-hashes", "*.json"))
	if len(memos) != 1 {
		t.Fatalf("%d hash memos, want 1", len(memos))
	}
	data, _ := os.ReadFile(memos[0])
	var memo hashMemo
	if err := json.Unmarshal(data, &memo); err != nil {
		t.Fatal(err)
	}
	memo.Hash = strings.Repeat("f", 64)
	data, _ = json.Marshal(memo)
	os.WriteFile(memos[0], data, 0o644)
	if b, err := testArchitectures.Open(ck, cache, "fp16", Options{}); err != nil || b.Manifest.Source.Hash != memo.Hash {
		t.Errorf("planted memo not used: %v", err)
	}
	os.WriteFile(filepath.Join(ck, "README.md"), []byte("new file"), 0o644)
	if b, err := testArchitectures.Open(ck, cache, "fp16", Options{}); err != nil || b.Dir != b4.Dir {
		t.Errorf("a changed folder did not hash again: %v", err)
	}

	// A bundle opens as itself; asking it for another precision is an error.
	if b, err := testArchitectures.Open(b4.Dir, cache, "", Options{}); err != nil || b.Dir != b4.Dir {
		t.Errorf("Open(bundle) = %v, %v", b, err)
	}
	if _, err := testArchitectures.Open(b4.Dir, cache, "int8", Options{}); err == nil || !strings.Contains(err.Error(), "the bundle is fp16") {
		t.Errorf("Open(fp16 bundle, int8): %v", err)
	}
	if _, err := testArchitectures.Open(t.TempDir(), cache, "", Options{}); err == nil || !strings.Contains(err.Error(), "neither a bundle") {
		t.Errorf("Open(empty folder): %v", err)
	}
	if _, err := testArchitectures.Open(ck, cache, "int4", Options{}); err == nil || !strings.Contains(err.Error(), "int4") {
		t.Errorf("Open(int4): %v", err)
	}
}

func TestRandomInit(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"architectures": ["`+testArch+`"]}`), 0o644)
	b1, err := testArchitectures.Convert(dir, filepath.Join(t.TempDir(), "a"), Options{RandomInit: true, Seed: 7})
	if err != nil {
		t.Fatal(err) // no weights file is needed
	}
	b2, err := testArchitectures.Convert(dir, filepath.Join(t.TempDir(), "b"), Options{RandomInit: true, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	b3, err := testArchitectures.Convert(dir, filepath.Join(t.TempDir(), "c"), Options{RandomInit: true, Seed: 8})
	if err != nil {
		t.Fatal(err)
	}
	f1, _ := b1.Manifest.File("dense")
	f2, _ := b2.Manifest.File("dense")
	f3, _ := b3.Manifest.File("dense")
	if f1.SHA256 != f2.SHA256 || f1.SHA256 == f3.SHA256 {
		t.Error("random weights do not follow the seed")
	}
	if !b1.Manifest.Source.RandomInit || b1.Manifest.Source.Seed != 7 {
		t.Errorf("source %+v", b1.Manifest.Source)
	}
	rw := &randomWeights{seed: 1, init: func(*Source, string, []int) Init { return Init{Mean: 1, Std: 0.5} }}
	a, _ := rw.Float32("a", 1000)
	a2, _ := rw.Float32("a", 1000)
	bv, _ := rw.Float32("b", 1000)
	var mean, sq float64
	for i, x := range a {
		if x != a2[i] {
			t.Fatal("the same tensor differs between calls")
		}
		mean += float64(x) / 1000
	}
	for _, x := range a {
		sq += (float64(x) - mean) * (float64(x) - mean) / 1000
	}
	if mean < 0.9 || mean > 1.1 || sq < 0.2 || sq > 0.3 || a[0] == bv[0] {
		t.Errorf("mean %.3f, variance %.3f; want about 1 and 0.25, and different tensors", mean, sq)
	}
	if _, err := rw.Float32("c", 2, 0); err == nil {
		t.Error("a zero dimension is accepted")
	}
}

func TestCalibration(t *testing.T) {
	// Random weights know no data: they calibrate on shapes scenes (their speed is what counts).
	b, err := testArchitectures.Convert(checkpoint(t, testArch), filepath.Join(t.TempDir(), "b"), Options{Precision: graph.Int8Full, CalibrationImages: 5, RandomInit: true})
	if err != nil {
		t.Fatal(err)
	}
	c := b.Manifest.Calibration
	if c == nil || c.Source != "shapes" || c.Images != 5 || c.Method != ObserverMinMax || c.Fallback != "" {
		t.Errorf("calibration %+v", c)
	}
	if f, _ := b.Manifest.File("dense"); f.Precision != "int8" || b.Manifest.Precision != "int8" {
		t.Errorf("dense is %s in a bundle of %s", f.Precision, b.Manifest.Precision)
	}

	// A folder: images in name order, other files skipped, an undecodable image named.
	dir := t.TempDir()
	for i, c := range []color.RGBA{{255, 0, 0, 255}, {0, 255, 0, 255}} {
		img := image.NewRGBA(image.Rect(0, 0, 4, 4))
		img.Set(0, 0, c)
		var buf bytes.Buffer
		png.Encode(&buf, img)
		os.WriteFile(filepath.Join(dir, string(rune('a'+i))+".png"), buf.Bytes(), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o644)
	var seen []string
	n, err := forEachCalibrationImage(Options{CalibrationDir: dir}, func(name string, img image.Image) error {
		seen = append(seen, filepath.Base(name))
		return nil
	})
	if err != nil || n != 2 || strings.Join(seen, ",") != "a.png,b.png" {
		t.Errorf("folder gave %v (%d, %v)", seen, n, err)
	}
	os.WriteFile(filepath.Join(dir, "c.png"), []byte("broken"), 0o644)
	if _, err := forEachCalibrationImage(Options{CalibrationDir: dir}, func(string, image.Image) error { return nil }); err == nil || !strings.Contains(err.Error(), "c.png") {
		t.Errorf("broken image: %v", err)
	}
	if _, err := forEachCalibrationImage(Options{CalibrationDir: t.TempDir()}, func(string, image.Image) error { return nil }); err == nil || !strings.Contains(err.Error(), "no image files (PNG, JPEG, GIF (its first frame) and BMP) in") {
		t.Errorf("empty folder: %v", err)
	}
	os.Remove(filepath.Join(dir, "c.png"))
	b, err = testArchitectures.Convert(checkpoint(t, testArch), filepath.Join(t.TempDir(), "b"), Options{Precision: graph.Int8Full, CalibrationDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if c := b.Manifest.Calibration; c == nil || c.Source != dir || c.Images != 2 || b.Manifest.Precision != "int8" {
		t.Errorf("calibrated on %s: %s, calibration %+v", dir, b.Manifest.Precision, c)
	}
	if _, err := testArchitectures.Convert(checkpoint(t, testArch), filepath.Join(t.TempDir(), "b"), Options{Precision: graph.Int8Full, RandomInit: true, Observer: "median"}); err == nil || !strings.Contains(err.Error(), `unknown observer "median"`) {
		t.Errorf("unknown observer: %v", err)
	}
	// Shapes scenes are data for the shapes models only: nothing reaches them unplanned.
	if _, err := forEachCalibrationImage(Options{}, func(string, image.Image) error { return nil }); err == nil || !strings.Contains(err.Error(), "no calibration images") {
		t.Errorf("shapes scenes without a plan: %v", err)
	}
}

// TestFullInt8WithoutCalibrationImages: a checkpoint that is not a shapes model, converted at
// full int8 without calibration images, is written at the safe precision, says so once in the
// log, and its manifest says why.
func TestFullInt8WithoutCalibrationImages(t *testing.T) {
	var logs bytes.Buffer
	b, err := testArchitectures.Convert(checkpoint(t, testArch), filepath.Join(t.TempDir(), "b"), Options{Precision: graph.Int8Full, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := b.Manifest.File("dense"); b.Manifest.Precision != "int8-dynamic" || f.Precision != "int8-dynamic" {
		t.Errorf("bundle %s, dense %s; want int8-dynamic", b.Manifest.Precision, f.Precision)
	}
	c := b.Manifest.Calibration
	if c == nil || c.Source != CalibrationNone || c.Images != 0 || !strings.Contains(c.Fallback, "calibration images") {
		t.Errorf("calibration %+v", c)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 || !strings.Contains(logs.String(), "level=WARN") ||
		!strings.Contains(logs.String(), "int8-dynamic (int8 weights, float activations)") || !strings.Contains(logs.String(), "--calibration") {
		t.Errorf("the log says (%d lines):\n%s", n, logs.String())
	}
}

func TestProgress(t *testing.T) {
	var logs bytes.Buffer
	p := NewProgress(&logs, slog.New(slog.NewTextHandler(&logs, nil)))
	for i := 0; i <= 3; i++ {
		p.Step("weights", i, 3)
	}
	if n := strings.Count(logs.String(), "\n"); n != 2 || !strings.Contains(logs.String(), "weights done") {
		t.Errorf("a non-terminal gets %d lines:\n%s", n, logs.String())
	}
}
