// Package testutil holds the small helpers that the tests of several packages share:
// comparing float vectors, reading test images, making broken checkpoints.
package testutil

import (
	"encoding/json"
	"fmt"
	"image"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/hf"
	"github.com/edged/edged/imageproc"
	"github.com/edged/edged/runtime/tflite"
)

// Cosine is the cosine similarity of a and b, in float64.
func Cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

// MaxAbsDiff is the largest |a[i] - b[i]|, or +Inf when the lengths differ.
func MaxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

// DecodeImage reads the image file at path (imageproc.DecodeFile), failing the test if it
// cannot.
func DecodeImage(t testing.TB, path string) image.Image {
	t.Helper()
	img, err := imageproc.DecodeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Run loads a .tflite model, sets its inputs in order ([]float32, []int32 or []int8), invokes
// it once and returns its first output as float32, failing the test on any error.
func Run(t testing.TB, model []byte, opts tflite.Options, inputs ...any) []float32 {
	t.Helper()
	m, err := tflite.NewModel(model)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ip, err := tflite.NewInterpreter(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	return Invoke(t, ip, inputs...)
}

// Invoke is Run on an interpreter already made (to check its delegation first, say).
func Invoke(t testing.TB, ip *tflite.Interpreter, inputs ...any) []float32 {
	t.Helper()
	var err error
	if ip.InputCount() != len(inputs) {
		t.Fatalf("the model has %d inputs, the test gives %d", ip.InputCount(), len(inputs))
	}
	for i, in := range inputs {
		switch v := in.(type) {
		case []float32:
			err = ip.Input(i).SetFloat32(v)
		case []int32:
			err = ip.Input(i).SetInt32(v)
		case []int8:
			err = ip.Input(i).SetInt8(v)
		default:
			err = fmt.Errorf("unsupported type %T", in)
		}
		if err != nil {
			t.Fatalf("input %d: %v", i, err)
		}
	}
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	out, err := ip.Output(0).Float32()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Randn returns n values from N(0, scale²), the same for the same seed.
func Randn(seed int64, n int, scale float32) []float32 {
	r := rand.New(rand.NewSource(seed))
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64()) * scale
	}
	return out
}

// PoisonedCheckpoint copies the Hugging Face checkpoint folder from into a new folder with
// every value of the named float32 tensor NaN, and returns the folder: a model whose
// results are NaN, as a damaged download makes one.
func PoisonedCheckpoint(t testing.TB, from, tensor string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), filepath.Base(from))
	if err := os.CopyFS(dir, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "model.safetensors")); err != nil { // rewritten below
		t.Fatal(err)
	}
	st, err := hf.OpenSafetensors(filepath.Join(from, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []hf.Tensor
	for _, name := range st.Names() {
		info, err := st.Info(name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := st.Float32(name)
		if err != nil {
			t.Fatalf("%s: %v (PoisonedCheckpoint reads float tensors only)", name, err)
		}
		if name == tensor {
			for i := range v {
				v[i] = float32(math.NaN())
			}
		}
		out = append(out, hf.F32Tensor(name, info.Shape, v))
	}
	if !st.Has(tensor) {
		t.Fatalf("%s has no tensor %s", from, tensor)
	}
	if err := hf.WriteSafetensorsFile(filepath.Join(dir, "model.safetensors"), out, st.Metadata()); err != nil {
		t.Fatal(err)
	}
	return dir
}

// EditJSONFile rewrites the JSON object in the file at path through edit.
func EditJSONFile(t testing.TB, path string, edit func(map[string]any)) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	edit(v)
	if data, err = json.Marshal(v); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// EditedBundle copies the bundle b into a new folder with its manifest changed by edit (the
// files keep their checksums: only the manifest's numbers differ).
func EditedBundle(t testing.TB, b *bundle.Bundle, edit func(*bundle.Manifest)) *bundle.Bundle {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundle")
	if err := os.CopyFS(dir, os.DirFS(b.Dir)); err != nil {
		t.Fatal(err)
	}
	m, err := bundle.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	edit(m)
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	out, err := bundle.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// WantError fails the test unless err is an error whose message holds every one of parts.
func WantError(t testing.TB, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want one mentioning %q", what, parts)
		return
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not mention %q", what, err, p)
		}
	}
}

// EditedCheckpoint copies the checkpoint folder from into a new folder with the JSON object
// file name (config.json, tokenizer.json...) changed by edit, and returns the folder.
func EditedCheckpoint(t testing.TB, from, name string, edit func(map[string]any)) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), filepath.Base(from))
	if err := os.CopyFS(dir, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
	EditJSONFile(t, filepath.Join(dir, name), edit)
	return dir
}
