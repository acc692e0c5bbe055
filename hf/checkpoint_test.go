package hf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The tiny CLIPModel's weight header, as transformers wrote it, agrees with its config.
func TestOpenCheckpoint(t *testing.T) {
	dir := unzipCheckpoint(t)
	ck, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	arch, err := ck.Architecture()
	if err != nil || arch != "CLIPModel" {
		t.Fatalf("Architecture() = %q, %v", arch, err)
	}
	cfg, err := ck.Config.CLIP()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ck.Weights.Names()); n != 78 {
		t.Errorf("%d tensors, want 78", n)
	}
	text, vision := cfg.Text, cfg.Vision
	patches := (vision.ImageSize / vision.PatchSize) * (vision.ImageSize / vision.PatchSize)
	expect := map[string][]int{
		"logit_scale": {},
		"text_model.embeddings.token_embedding.weight":          {text.VocabSize, text.HiddenSize},
		"text_model.embeddings.position_embedding.weight":       {text.MaxPositionEmbeddings, text.HiddenSize},
		"text_model.encoder.layers.1.mlp.fc1.weight":            {text.IntermediateSize, text.HiddenSize},
		"text_projection.weight":                                {cfg.ProjectionDim, text.HiddenSize},
		"vision_model.embeddings.patch_embedding.weight":        {vision.HiddenSize, vision.NumChannels, vision.PatchSize, vision.PatchSize},
		"vision_model.embeddings.position_embedding.weight":     {patches + 1, vision.HiddenSize},
		"vision_model.encoder.layers.1.self_attn.q_proj.weight": {vision.HiddenSize, vision.HiddenSize},
		"visual_projection.weight":                              {cfg.ProjectionDim, vision.HiddenSize},
	}
	for name, shape := range expect {
		if _, err := ck.Weights.Expect(name, shape...); err != nil {
			t.Error(err)
		}
	}
	for layer := range text.NumHiddenLayers {
		if !ck.Weights.Has(fmt.Sprintf("text_model.encoder.layers.%d.layer_norm1.weight", layer)) {
			t.Errorf("text layer %d missing", layer)
		}
	}
	if _, err := ck.Weights.Expect("visual_projection.weight", cfg.ProjectionDim+1, -1); err == nil {
		t.Error("Expect accepted a wrong shape")
	}
	if g, err := ck.GenerationConfig(); err != nil || !g.FromModelConfig || g.BosTokenID != 712 || g.PadTokenID != 1 {
		t.Errorf("derived generation config: %+v, %v", g, err)
	}
	if _, err := ck.PreprocessorConfig(); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "preprocessor_config.json") {
		t.Errorf("missing preprocessor config: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "preprocessor_config.json"), []byte(`{"size": 32}`), 0o644)
	if raw, err := ck.PreprocessorConfig(); err != nil || string(raw) != `{"size": 32}` {
		t.Errorf("PreprocessorConfig() = %q, %v", raw, err)
	}
	if _, err := ck.TokenizerConfig(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing tokenizer config: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("empty folder: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"architectures": ["CLIPModel"]}`), 0o644)
	if _, err := Open(dir); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "model.safetensors") {
		t.Errorf("no weights: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte("not safetensors at all"), 0o644)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "corrupt header") {
		t.Errorf("corrupt weights: %v", err)
	}
}

func TestHash(t *testing.T) {
	dir := unzipCheckpoint(t)
	h1, err := Hash(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(h1) != 64 {
		t.Fatalf("hash %q is not hex SHA-256", h1)
	}
	// Files that do not shape the model do not change the hash.
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("# tiny"), 0o644)
	os.WriteFile(filepath.Join(dir, ".hidden.json"), []byte("{}"), 0o644)
	if h, _ := Hash(dir); h != h1 {
		t.Error("README.md or a hidden file changed the hash")
	}
	// A config, a tokenizer file or a weight byte does.
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte("{}"), 0o644)
	h2, _ := Hash(dir)
	if h2 == h1 {
		t.Error("adding tokenizer.json did not change the hash")
	}
	path := filepath.Join(dir, "model.safetensors")
	data, _ := os.ReadFile(path)
	data[len(data)-1] ^= 1
	os.WriteFile(path, data, 0o644)
	h3, _ := Hash(dir)
	if h3 == h2 {
		t.Error("changing a weight byte did not change the hash")
	}
	// Moving bytes from one file to the next (same concatenation) changes it too.
	a, b := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(a, "a.json"), []byte("{}{"), 0o644)
	os.WriteFile(filepath.Join(a, "b.json"), []byte("}"), 0o644)
	os.WriteFile(filepath.Join(b, "a.json"), []byte("{}"), 0o644)
	os.WriteFile(filepath.Join(b, "b.json"), []byte("{}"), 0o644)
	ha, _ := Hash(a)
	hb, _ := Hash(b)
	if ha == hb {
		t.Error("files with the same concatenation hash alike")
	}
	if _, err := Hash(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty folder: %v", err)
	}
	if _, err := Hash(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing folder: %v", err)
	}
}

func BenchmarkHash(b *testing.B) {
	dir := b.TempDir()
	vals := make([]float32, 4<<20) // 16 MB of weights
	if err := WriteSafetensorsFile(filepath.Join(dir, "model.safetensors"), []Tensor{F32Tensor("w", []int{len(vals)}, vals)}, nil); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(4 * len(vals)))
	for b.Loop() {
		if _, err := Hash(dir); err != nil {
			b.Fatal(err)
		}
	}
}
