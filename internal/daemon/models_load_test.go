package daemon

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// A delegate that cannot be loaded (no GPU delegate library on this machine) fails each model
// with an error that names it, and nothing is handed over half open — not a panic.
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
	prep := newPreparation(cfg)
	live := newLiveModels()
	err = loadModels(discardLogger(), prep)(context.Background(), cfg, func(m *Models) { live.add(m) })
	live.close()
	if err != nil {
		t.Fatal(err)
	}
	statuses, _ := prep.snapshot()
	if len(fieldsOf(live.load())) > 0 {
		t.Skip("this machine has a GPU delegate library; the missing-library path cannot be exercised")
	}
	for _, field := range []string{"clip", "blip_caption"} {
		if s := statuses[field]; s.State != modelFailed || !strings.Contains(s.Error, "models."+field) || !strings.Contains(s.Error, "gpu") {
			t.Errorf("models.%s: %+v; want failed with an error naming models.%s and the gpu delegate", field, s, field)
		}
	}
}
