package bundle

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/edged/edged/runtime/tflite"
)

// writeBundle lays out a bundle by hand in a new folder: the files with their contents, and a
// manifest listing them with their true sizes and checksums.
func writeBundle(t *testing.T, files map[string]string) (string, *Manifest) {
	t.Helper()
	dir := t.TempDir()
	m := &Manifest{Format: ManifestFormat, Architecture: "CLIPModel", Revision: 3, Precision: "int8",
		Source: SourceInfo{Path: "/ckpt", Hash: "abc"}, EdgedVersion: "test",
		Values: map[string]any{"logit_scale": 100.0, "context_length": 77.0, "text_pooling": "argmax"}}
	for _, role := range slices.Sorted(maps.Keys(files)) {
		path := filepath.Join(dir, role+".bin")
		if err := WriteFileSync(path, []byte(files[role])); err != nil {
			t.Fatal(err)
		}
		sum, err := FileSHA256(path)
		if err != nil {
			t.Fatal(err)
		}
		m.Files = append(m.Files, File{Path: role + ".bin", Role: role, Size: int64(len(files[role])), SHA256: sum})
	}
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	return dir, m
}

func TestReadAndVerify(t *testing.T) {
	dir, want := writeBundle(t, map[string]string{"vision": "vision weights", "tokenizer": "{}"})
	b, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	want.path = filepath.Join(dir, ManifestName) // what errors name
	if !reflect.DeepEqual(b.Manifest, want) {
		t.Errorf("read manifest %+v, wrote %+v", b.Manifest, want)
	}
	if p, err := b.Path("vision"); err != nil || p != filepath.Join(dir, "vision.bin") {
		t.Errorf("Path(vision) = %q, %v", p, err)
	}
	if _, err := b.Path("text"); err == nil || !strings.Contains(err.Error(), "has no text file") {
		t.Errorf("Path of a missing role: %v", err)
	}
	if !b.HasFile("tokenizer") || b.HasFile("text") || !b.Manifest.HasRole("vision") {
		t.Error("HasFile / HasRole")
	}
	if err := b.Verify(); err != nil {
		t.Fatal(err)
	}

	// Same size, other content: only Verify sees it, and names the file.
	vision := filepath.Join(dir, "vision.bin")
	if err := os.WriteFile(vision, []byte("vision weighTs"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); err != nil {
		t.Errorf("Read checks sizes only: %v", err)
	}
	if err := b.Verify(); err == nil || !strings.Contains(err.Error(), "vision.bin does not match its checksum") {
		t.Errorf("Verify of a changed file: %v", err)
	}
	// Another size: Read refuses it already.
	if err := os.WriteFile(vision, []byte("vision"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "vision.bin is 6 bytes, the manifest says 14 (truncated or replaced)") {
		t.Errorf("Read of a truncated file: %v", err)
	}
	// A missing file: Read names its role, Verify its path.
	if err := os.Remove(vision); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "vision file") {
		t.Errorf("Read of a missing file: %v", err)
	}
	if err := b.Verify(); err == nil || !strings.Contains(err.Error(), "vision.bin") {
		t.Errorf("Verify of a missing file: %v", err)
	}
}

// manifest.json's keys are a file format: bundles written by an older edged must stay readable,
// so the names never change.
func TestManifestJSONKeys(t *testing.T) {
	dir, _ := writeBundle(t, map[string]string{"vision": "x"})
	b, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	b.Manifest.Calibration = &CalibrationInfo{Source: "shapes", Images: 64, Method: "minmax"}
	b.Manifest.Source.RandomInit, b.Manifest.Source.Seed = true, 7
	b.Manifest.Files[0].Precision = "int8"
	b.Manifest.Files[0].Inputs = []Tensor{{Name: "pixel_values", DType: "float32", Shape: []int{1, 224, 224, 3}}}
	b.Manifest.Files[0].Outputs = []Tensor{{Name: "image_embeds", DType: "float32", Shape: []int{1, -1}}}
	if err := b.Manifest.Write(dir); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	keys := func(v any) []string { return slices.Sorted(maps.Keys(v.(map[string]any))) }
	for _, tc := range []struct {
		what string
		got  []string
		want []string
	}{
		{"manifest", keys(doc), []string{"architecture", "calibration", "edged_version", "files", "format", "precision", "revision", "source", "values"}},
		{"source", keys(doc["source"]), []string{"hash", "path", "random_init", "seed"}},
		{"calibration", keys(doc["calibration"]), []string{"images", "method", "source"}},
		{"file", keys(doc["files"].([]any)[0]), []string{"inputs", "outputs", "path", "precision", "role", "sha256", "size"}},
		{"tensor", keys(doc["files"].([]any)[0].(map[string]any)["inputs"].([]any)[0]), []string{"dtype", "name", "shape"}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s keys %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	if !strings.HasSuffix(string(data), "}\n") {
		t.Error("manifest.json does not end with a newline")
	}
}

func TestManifestValidation(t *testing.T) {
	sha := strings.Repeat("0", 64)
	good := func() *Manifest {
		return &Manifest{Format: ManifestFormat, Architecture: "X", Precision: "fp32", Files: []File{{Path: "a.tflite", Role: "a", SHA256: sha}}}
	}
	for want, spoil := range map[string]func(m *Manifest){
		"format 2, this edged reads format 1": func(m *Manifest) { m.Format = 2 },
		"no architecture":                     func(m *Manifest) { m.Architecture = "" },
		"no precision":                        func(m *Manifest) { m.Precision = "" },
		"no files":                            func(m *Manifest) { m.Files = nil },
		"file 0 has no path or no role":       func(m *Manifest) { m.Files[0].Role = "" },
		`file "../../etc/passwd" is outside`:  func(m *Manifest) { m.Files[0].Path = "../../etc/passwd" },
		`file "/etc/passwd" is outside`:       func(m *Manifest) { m.Files[0].Path = "/etc/passwd" },
		`role "a" appears twice`:              func(m *Manifest) { m.Files = append(m.Files, File{Path: "b", Role: "a"}) },
		`file "a.tflite" has size -1`:         func(m *Manifest) { m.Files[0].Size = -1 },
		`file "a.tflite" has no SHA-256`:      func(m *Manifest) { m.Files[0].SHA256 = "abc" },
		`tensor "x" has shape [1 1073741824]: a dimension is -1 or 0 to 16777216`: func(m *Manifest) {
			m.Files[0].Inputs = []Tensor{{Name: "x", Shape: []int{1, 1 << 30}}}
		},
		`tensor "y" has shape [-5]`:                func(m *Manifest) { m.Files[0].Outputs = []Tensor{{Name: "y", Shape: []int{-5}}} },
		`tensor "z" has 9 dimensions, more than 8`: func(m *Manifest) { m.Files[0].Outputs = []Tensor{{Name: "z", Shape: make([]int, 9)}} },
		"65 files, more than the 64": func(m *Manifest) {
			for i := range 64 {
				m.Files = append(m.Files, File{Path: fmt.Sprint(i), Role: fmt.Sprint(i), SHA256: sha})
			}
		},
	} {
		dir := t.TempDir()
		m := good()
		spoil(m)
		if err := m.Write(dir); err != nil {
			t.Fatal(err)
		}
		_, err := ReadManifest(dir)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: %v", want, err)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ManifestName), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadManifest(dir); err == nil || !strings.Contains(err.Error(), ManifestName) {
		t.Errorf("broken JSON: %v", err)
	}
	if _, err := Read(t.TempDir()); err == nil || !strings.Contains(err.Error(), "bundle manifest") {
		t.Errorf("a folder without a manifest: %v", err)
	}
}

func TestManifestValues(t *testing.T) {
	m := &Manifest{Values: map[string]any{"scale": 100.0, "half": 0.5, "pooling": "argmax", "huge": 1e300, "negative": -5.0}}
	if v, err := m.Float("half"); err != nil || v != 0.5 {
		t.Errorf("Float(half) = %v, %v", v, err)
	}
	if v, err := m.Int("scale"); err != nil || v != 100 {
		t.Errorf("Int(scale) = %v, %v", v, err)
	}
	if v, err := m.Text("pooling"); err != nil || v != "argmax" {
		t.Errorf("Text(pooling) = %q, %v", v, err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"missing", second(m.Float("nope")), `no value "nope"`},
		{"text as a number", second(m.Float("pooling")), `"pooling" is string, want a number`},
		{"fraction as an integer", second(m.Int("half")), `"half" is 0.5, want an integer`},
		{"number as text", second(m.Text("scale")), `"scale" is float64, want a string`},
		{"missing text", second(m.Text("nope")), `no value "nope"`},
		{"integer beyond float64's exact range", second(m.Int("huge")), `"huge" is 1e+300, want an integer`},
		{"integer out of bounds", second(m.IntIn("scale", 1, 64)), `manifest: value "scale" is 100, want 1 to 64`},
		{"negative size", second(m.IntIn("negative", 1, 64)), `value "negative" is -5, want 1 to 64`},
		{"number out of bounds", second(m.FloatIn("half", 1, 100)), `value "half" is 0.5, want 1 to 100`},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, tc.err, tc.want)
		}
	}
	if v, err := m.IntIn("scale", 1, 100); err != nil || v != 100 {
		t.Errorf("IntIn(scale, 1, 100) = %v, %v", v, err)
	}
	// A manifest read from a file names it in every value error.
	dir, _ := writeBundle(t, map[string]string{"vision": "x"})
	b, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`bundle manifest %s: value "context_length" is 77, want 1 to 16`, filepath.Join(dir, ManifestName))
	if _, err := b.Manifest.IntIn("context_length", 1, 16); err == nil || err.Error() != want {
		t.Errorf("IntIn of a read manifest: %v, want %q", err, want)
	}
}

func second[T any](_ T, err error) error { return err }

// A full-int8 file asks for XNNPACK's QS8 kernels, under XNNPACK only (the runtime refuses
// XNNPACK flags with another delegate); other files never do.
func TestFileRuntimeOptions(t *testing.T) {
	for _, tc := range []struct {
		precision string
		delegate  tflite.DelegateKind
		qs8       bool
	}{
		{PrecisionInt8, tflite.DelegateDefault, true},
		{PrecisionInt8, tflite.DelegateXNNPack, true},
		{PrecisionInt8, tflite.DelegateNone, false},
		{PrecisionInt8, tflite.DelegateGPU, false},
		{"fp32", tflite.DelegateXNNPack, false},
		{"int8-dynamic", tflite.DelegateDefault, false},
	} {
		o := File{Precision: tc.precision}.RuntimeOptions(tflite.Options{Threads: 3, Delegate: tc.delegate, XNNPackQS8: !tc.qs8})
		if o.XNNPackQS8 != tc.qs8 || o.Threads != 3 || o.Delegate != tc.delegate {
			t.Errorf("%s under %q: %+v, want QS8 %v and the rest unchanged", tc.precision, tc.delegate, o, tc.qs8)
		}
	}
}

func TestFileSHA256(t *testing.T) {
	path := filepath.Join(t.TempDir(), "abc")
	if err := WriteFileSync(path, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	// FIPS 180-2's example.
	if sum, err := FileSHA256(path); err != nil || sum != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("sha256(abc) = %s, %v", sum, err)
	}
	if _, err := FileSHA256(path + ".missing"); err == nil {
		t.Error("the checksum of a missing file")
	}
}

// The cost of verifying a bundle at its first open after a start: SHA-256 of its files
// (b.SetBytes: the MB/s printed is the hashing rate).
func BenchmarkVerify(b *testing.B) {
	dir := b.TempDir()
	data := make([]byte, 64<<20)
	for i := range data {
		data[i] = byte(i * 31)
	}
	path := filepath.Join(dir, "model.tflite")
	if err := WriteFileSync(path, data); err != nil {
		b.Fatal(err)
	}
	sum, err := FileSHA256(path)
	if err != nil {
		b.Fatal(err)
	}
	bd := &Bundle{Dir: dir, Manifest: &Manifest{Files: []File{{Path: "model.tflite", Role: "vision", Size: int64(len(data)), SHA256: sum}}}}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := bd.Verify(); err != nil {
			b.Fatal(err)
		}
	}
}
