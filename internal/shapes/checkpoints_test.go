package shapes

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/edged/edged/hf"
)

// TestCheckpointHashes: every checkpoint in models/shapes is recognised under its own name, so
// a retrained model updates the list (or fails here) instead of silently losing its shapes
// calibration; a copy with one byte of its config changed is not a shapes model.
func TestCheckpointHashes(t *testing.T) {
	root := filepath.Join("..", "..", "models", "shapes")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		h, err := hf.Hash(filepath.Join(root, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		name, ok := Checkpoint(h)
		if !ok || name != e.Name() {
			t.Errorf("models/shapes/%s (hash %s) is recognised as %q, %v", e.Name(), h, name, ok)
		}
		seen++
	}
	if seen != len(checkpointHashes) {
		t.Errorf("models/shapes has %d checkpoints, the list %d", seen, len(checkpointHashes))
	}

	edited := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"} {
		data, err := os.ReadFile(filepath.Join(root, "clip", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "config.json" {
			data = append(data, '\n')
		}
		if err := os.WriteFile(filepath.Join(edited, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h, err := hf.Hash(edited)
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := Checkpoint(h); ok {
		t.Errorf("an edited copy of the shapes CLIP is recognised as %q", name)
	}
}
