package daemon

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/hf/hub/hubtest"
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
