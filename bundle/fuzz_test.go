package bundle

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

// Manifests never panic the parser or the value readers, and what the parser accepts names
// files inside the bundle, each role once, with bounded sizes and shapes.
func FuzzManifest(f *testing.F) {
	sha := "9045ac090af759f7858d9829374ee1629e7369e60deac23c21884ead0de41fdb"
	seed := Manifest{Format: ManifestFormat, Architecture: "BlipForConditionalGeneration", Revision: 2, Precision: "int8",
		Source: SourceInfo{Path: "/ckpt", Hash: "abc"}, EdgedVersion: "test",
		Files: []File{
			{Path: "vision.tflite", Role: "vision", Precision: "int8", Size: 1401152, SHA256: sha,
				Inputs:  []Tensor{{Name: "pixel_values", DType: "float32", Shape: []int{1, 64, 64, 3}}},
				Outputs: []Tensor{{Name: "image_embeds", DType: "float32", Shape: []int{1, 17, 96}}}},
			{Path: "decoder_step.tflite", Role: "decoder_step", Size: 10, SHA256: sha,
				Inputs: []Tensor{{Name: "token_ids", DType: "int32", Shape: []int{-1}}}},
			{Path: "tokenizer.json", Role: "tokenizer", Size: 6675, SHA256: sha},
		},
		Values: map[string]any{"decoder_cache": 40, "vocab_size": 202, "logit_scale": 24.88, "text_pooling": "argmax"}}
	data, err := json.Marshal(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	for _, s := range []string{`{"format": 1, "architecture": "x", "precision": "fp32", "files": [{"path": "../a", "role": "a"}]}`,
		`{"format": 1, "values": {"decoder_cache": 1e9, "projection_dim": -5, "x": 1e300}}`, `[]`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data, filepath.Join("bundle", ManifestName))
		if err != nil {
			return
		}
		if len(m.Files) == 0 || len(m.Files) > maxFiles {
			t.Fatalf("accepted %d files", len(m.Files))
		}
		roles := map[string]bool{}
		for _, file := range m.Files {
			if !filepath.IsLocal(file.Path) || roles[file.Role] || file.Size < 0 || checkTensors(file) != nil {
				t.Fatalf("accepted file %+v", file)
			}
			roles[file.Role] = true
		}
		for name := range m.Values {
			if v, err := m.IntIn(name, 1, 1<<16); err == nil && (v < 1 || v > 1<<16) {
				t.Fatalf("IntIn(%q) = %d", name, v)
			}
			if v, err := m.FloatIn(name, 0, 1000); err == nil && !(v >= 0 && v <= 1000) {
				t.Fatalf("FloatIn(%q) = %v", name, v)
			}
			_, _ = m.Text(name)
		}
	})
}
