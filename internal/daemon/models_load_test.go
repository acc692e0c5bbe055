package daemon

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/runtime/tflite/tflitetest"
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

// runtime.delegate_library and delegate_options reach CLIP as they reach BLIP: with the test
// plugin CLIP opens and labels; an option the plugin refuses fails models.clip.
func TestCLIPTakesTheExternalDelegate(t *testing.T) {
	plugin := tflitetest.BuildLibrary(t, tflitetest.Plugin, "libedged_test_delegate.so")
	shapes, err := filepath.Abs("../../models/shapes/clip")
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	open := func(options string) (*Models, error) {
		src := "device: d\ncache_dir: " + cache + "\nruntime:\n  delegate: external\n  delegate_library: " + plugin +
			"\n  delegate_options: " + options + "\n  precision: fp32\n  workers: 2\nmodels:\n  clip: " + shapes +
			"\ncameras:\n  - name: c\n    source: {kind: synthetic}\n"
		cfg, err := ParseConfig([]byte(src), filepath.Join(t.TempDir(), "edged.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		return openModels(cfg, discardLogger())
	}
	ms, err := open("{num_threads: '1'}")
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	img := testutil.DecodeImage(t, "../shapes/testdata/scenes/scene_00.png")
	if emb, err := ms.Labeler.EmbedImage(context.Background(), img); err != nil || len(emb) == 0 {
		t.Errorf("CLIP through the external delegate: %v", err)
	}
	ms2, err := open("{colour: red}")
	if err == nil {
		ms2.Close()
		t.Fatal("an option the plugin refuses did not fail models.clip: the options do not reach CLIP")
	}
	if !strings.Contains(err.Error(), "models.clip") || !strings.Contains(err.Error(), "test plugin: unknown option") {
		t.Errorf("refused option: %v", err)
	}
}
