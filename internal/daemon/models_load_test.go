package daemon

import (
	"path/filepath"
	"strings"
	"testing"
)

// A delegate that cannot be loaded (no GPU delegate library on this machine) is an error that
// names the model, and what was opened before it is closed — not a panic.
func TestOpenModelsMissingDelegateIsAnError(t *testing.T) {
	models, err := filepath.Abs("../../models/shapes")
	if err != nil {
		t.Fatal(err)
	}
	src := "device: d\ncache_dir: " + t.TempDir() + "\nruntime:\n  delegate: gpu\n  precision: fp32\n" +
		"models:\n  clip: " + filepath.Join(models, "clip") + "\n  blip_caption: " + filepath.Join(models, "blip_caption") +
		"\ncameras:\n  - name: c\n    source: {kind: synthetic}\n"
	cfg, err := ParseConfig([]byte(src), filepath.Join(t.TempDir(), "edged.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := openModels(cfg, discardLogger())
	if err == nil {
		ms.Close()
		t.Skip("this machine has a GPU delegate library; the missing-library path cannot be exercised")
	}
	if ms != nil || !strings.Contains(err.Error(), "models.clip") || !strings.Contains(err.Error(), "gpu") {
		t.Fatalf("openModels = %v, %v; want a nil *Models and an error naming models.clip and the gpu delegate", ms, err)
	}
}
