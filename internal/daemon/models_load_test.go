package daemon

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/hf/hub/hubtest"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/runtime/tflite/tflitetest"
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

// A model whose hub cannot be reached waits, says so, and is ready once the hub answers.
func TestLoaderWaitsForTheHub(t *testing.T) {
	srv := hubtest.New(t)
	srv.AddFolder(t, "shapes/clip", "../../models/shapes/clip", hubtest.RepoOptions{})
	srv.SetDown(true)
	t.Setenv("HF_ENDPOINT", srv.URL)
	t.Setenv("HF_HUB_CACHE", filepath.Join(t.TempDir(), "hub"))
	t.Setenv("HF_HOME", t.TempDir())
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HF_HUB_OFFLINE", "")
	src := "device: d\ncache_dir: " + t.TempDir() + "\nmodels: {clip: shapes/clip}\ncameras:\n  - name: c\n    source: {kind: synthetic}\n"
	cfg, err := ParseConfig([]byte(src), filepath.Join(t.TempDir(), "edged.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	prep := newPreparation(cfg)
	live := newLiveModels()
	defer live.close()
	l, err := newLoader(cfg, discardLogger(), prep, func(m *Models) { live.add(m) })
	if err != nil {
		t.Fatal(err)
	}
	l.firstRetry = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.prepare(ctx, configuredModels(cfg)[0])
	}()
	status := func() ModelStatus { s, _ := prep.snapshot(); return s["clip"] }
	eventually(t, "models.clip to wait for the hub", func() bool { return status().State == modelWaiting })
	if s := status(); s.Retry == "" || !strings.Contains(s.Error, "cannot reach") {
		t.Errorf("waiting status %+v; want the error and when it retries", s)
	}
	if preparing, _ := prep.problems(); len(preparing) != 1 || !strings.Contains(preparing[0], "waiting for the hub") {
		t.Errorf("problems %q", preparing)
	}
	srv.SetDown(false)
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("models.clip was not ready two minutes after the hub came back")
	}
	if live.load().Labeler == nil {
		t.Fatalf("models.clip ended %+v without a labeler", status())
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
	// open loads models.clip with the plugin given options, and returns what became live
	// (closed at the end of the test) and models.clip's status.
	open := func(options string) (*Models, ModelStatus) {
		src := "device: d\ncache_dir: " + cache + "\nruntime:\n  delegate: external\n  delegate_library: " + plugin +
			"\n  delegate_options: " + options + "\n  precision: fp32\n  workers: 2\nmodels:\n  clip: " + shapes +
			"\ncameras:\n  - name: c\n    source: {kind: synthetic}\n"
		cfg, err := ParseConfig([]byte(src), filepath.Join(t.TempDir(), "edged.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		prep := newPreparation(cfg)
		live := newLiveModels()
		t.Cleanup(func() { live.close() })
		if err := loadModels(discardLogger(), prep)(context.Background(), cfg, func(m *Models) { live.add(m) }); err != nil {
			t.Fatal(err)
		}
		statuses, _ := prep.snapshot()
		return live.load(), statuses["clip"]
	}
	ms, status := open("{num_threads: '1'}")
	if ms.Labeler == nil {
		t.Fatalf("models.clip with the plugin: %+v", status)
	}
	img := testutil.DecodeImage(t, "../shapes/testdata/scenes/scene_00.png")
	if emb, err := ms.Labeler.EmbedImage(context.Background(), img); err != nil || len(emb) == 0 {
		t.Errorf("CLIP through the external delegate: %v", err)
	}
	ms, status = open("{colour: red}")
	if ms.Labeler != nil {
		t.Fatal("an option the plugin refuses did not fail models.clip: the options do not reach CLIP")
	}
	if status.State != modelFailed || !strings.Contains(status.Error, "models.clip") || !strings.Contains(status.Error, "test plugin: unknown option") {
		t.Errorf("refused option: %+v", status)
	}
}
