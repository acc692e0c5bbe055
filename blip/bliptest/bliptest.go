// Package bliptest builds BLIP checkpoints for other packages' tests from the files the
// repository ships, so that no test has to know where they live.
package bliptest

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/models"
	"github.com/edged/edged/runtime/tflite"
)

// TinyITMCheckpoint assembles, in a temporary folder, a BlipForImageTextRetrieval checkpoint:
// the random-weight golden retrieval model (blip/testdata/blip_itm_tiny) with the shapes
// models' tokenizer (the same 202-token vocabulary). Its scores mean nothing: it proves
// wiring, not verdicts (ShapesITMModel is the one trained on the shapes world).
func TinyITMCheckpoint(t testing.TB) string {
	t.Helper()
	root := repoRoot(t)
	dir := t.TempDir()
	for src, name := range map[string]string{
		"blip/testdata/blip_itm_tiny/config.json":       "config.json",
		"blip/testdata/blip_itm_tiny/model.safetensors": "model.safetensors",
		"models/shapes/blip_vqa/tokenizer.json":         "tokenizer.json",
		"models/shapes/blip_vqa/tokenizer_config.json":  "tokenizer_config.json",
	} {
		data, err := os.ReadFile(filepath.Join(root, src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TinyITMModel converts TinyITMCheckpoint at fp32 into a temporary cache and opens it on one
// thread; it is closed when the test ends.
func TinyITMModel(t testing.TB) *blip.Model {
	t.Helper()
	return openModel(t, TinyITMCheckpoint(t), graph.FP32.String())
}

// ShapesITMCheckpoint is the folder of the shapes ITM model (models/shapes/blip_itm): a
// BlipForImageTextRetrieval trained on the shapes world, whose verdicts can be checked
// against a scene's truth.
func ShapesITMCheckpoint(t testing.TB) string {
	t.Helper()
	return filepath.Join(repoRoot(t), "models", "shapes", "blip_itm")
}

// ShapesITMModel converts ShapesITMCheckpoint at BLIP's default precision (as edged runs it)
// into a temporary cache and opens it on one thread; it is closed when the test ends.
func ShapesITMModel(t testing.TB) *blip.Model {
	t.Helper()
	return openModel(t, ShapesITMCheckpoint(t), "")
}

// openModel converts a checkpoint at precision ("" for BLIP's default) into a temporary
// cache and opens it on one thread, closed when the test ends.
func openModel(t testing.TB, dir, precision string) *blip.Model {
	t.Helper()
	b, err := models.Open(context.Background(), dir, models.Options{CacheDir: t.TempDir(), Precision: precision})
	if err != nil {
		t.Fatal(err)
	}
	m, err := blip.Load(b, blip.Options{Runtime: tflite.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func repoRoot(t testing.TB) string {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("bliptest: cannot locate the repository")
	}
	return filepath.Join(filepath.Dir(self), "..", "..")
}
