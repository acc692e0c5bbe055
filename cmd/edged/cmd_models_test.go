package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/hf/hub/hubtest"
	"github.com/edged/edged/internal/shapes"
	"github.com/edged/edged/models"
	"github.com/edged/edged/runtime/tflite"
)

func runModelsCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = modelsCmd(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// A repository id is a --model: edged classify pulls it from the hub, converts it into the
// cache with the repository, revision and commit in the manifest, and labels the scene as the
// checkpoint folder does; the next run, offline, touches no network. edged models lists the
// entry and edged models rm removes it.
func TestModelFromHubAndCacheCommands(t *testing.T) {
	srv := hubtest.New(t)
	commit := srv.AddFolder(t, "shapes/clip", shapesCLIP, hubtest.RepoOptions{Tags: []string{"v1"}})
	for _, k := range []string{"HF_TOKEN", "HF_HUB_OFFLINE"} {
		t.Setenv(k, "")
	}
	t.Setenv("HF_HOME", t.TempDir())
	t.Setenv("HF_HUB_CACHE", filepath.Join(t.TempDir(), "hub"))
	t.Setenv("HF_ENDPOINT", srv.URL)
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	red := renderScene(t, dir, "red.png", shapes.Scene{Background: "black", Objects: []shapes.Object{{Color: "red", Shape: "circle", X: 0.5, Y: 0.5, Size: 0.25}}})

	classifyRed := func() {
		t.Helper()
		code, stdout, stderr := runClassifyCmd("--model", "shapes/clip@v1", "--cache", cache, "--labels", "../../configs/labels/shapes.yaml",
			"--top", "1", "--json", "--threads", "1", red)
		if code != 0 {
			t.Fatalf("classify --model shapes/clip@v1: exit %d: %s", code, stderr)
		}
		var res classifyResult
		if err := json.Unmarshal([]byte(stdout), &res); err != nil || len(res.Labels) != 1 || res.Labels[0].Label != "red circle" {
			t.Fatalf("classify: %q (%v); want red circle first", stdout, err)
		}
	}
	classifyRed()
	if n := len(srv.Requests()); n == 0 {
		t.Fatal("the hub got no request")
	}

	code, stdout, stderr := runModelsCmd("--cache", cache, "--json")
	if code != 0 {
		t.Fatalf("edged models: exit %d: %s", code, stderr)
	}
	var e modelEntry
	if err := json.Unmarshal([]byte(stdout), &e); err != nil || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("edged models --json: %q (%v); want one entry", stdout, err)
	}
	if e.Repo != "shapes/clip" || e.Revision != "v1" || e.Commit != commit || e.Precision != "int8" || e.Architecture != "CLIPModel" ||
		!strings.Contains(e.Calibration, "shapes") || e.SizeBytes <= 0 || e.LastUsed == "" {
		t.Errorf("entry %+v; want shapes/clip at v1 (commit %s), int8 calibrated on shapes", e, commit)
	}
	// Its parts: the manifest's precision of each file, and the kernels this CPU runs them on.
	kernel, _ := tflite.KernelOf(tflite.Options{})
	wantParts := []models.Part{{Role: "vision", Precision: "int8", Delegate: "xnnpack", Kernels: kernel},
		{Role: "text", Precision: "int8-dynamic", Delegate: "xnnpack", Kernels: kernel}}
	if !slices.Equal(e.Parts, wantParts) {
		t.Errorf("parts %+v, want %+v", e.Parts, wantParts)
	}
	b, err := bundle.Read(filepath.Join(cache, "models", e.Name))
	if err != nil {
		t.Fatal(err)
	}
	if o := b.Manifest.Source.Origin; o.Repo != "shapes/clip" || o.Revision != "v1" || o.Commit != commit {
		t.Errorf("manifest origin %+v", o)
	}
	if code, table, _ := runModelsCmd("--cache", cache); code != 0 || !strings.Contains(table, e.Name) || !strings.Contains(table, "shapes/clip") ||
		!strings.Contains(table, models.PartsString(wantParts)) {
		t.Errorf("edged models table: exit %d\n%s", code, table)
	}

	// Offline: the snapshot and the bundle are used as they are.
	srv.ResetRequests()
	t.Setenv("HF_HUB_OFFLINE", "1")
	classifyRed()
	if reqs := srv.Requests(); len(reqs) != 0 {
		t.Errorf("offline run sent %d requests to the hub: %+v", len(reqs), reqs)
	}
	// Offline with the hub cache gone: the bundle converted from the repository still serves.
	if err := os.RemoveAll(os.Getenv("HF_HUB_CACHE")); err != nil {
		t.Fatal(err)
	}
	classifyRed()

	if code, _, stderr := runModelsCmd("rm", "--cache", cache, "other/repo"); code != 1 || !strings.Contains(stderr, `nothing called "other/repo"`) {
		t.Errorf("rm of nothing: exit %d, %s", code, stderr)
	}
	if code, out, stderr := runModelsCmd("rm", "--cache", cache, "shapes/clip@"+commit); code != 0 || !strings.Contains(out, "removed "+e.Name) {
		t.Errorf("rm shapes/clip@commit: exit %d, %q, %s", code, out, stderr)
	}
	if code, out, _ := runModelsCmd("--cache", cache); code != 0 || !strings.HasPrefix(out, "no models in ") {
		t.Errorf("after rm: exit %d, %q", code, out)
	}
	if code, _, _ := runModelsCmd("rm"); code != 2 {
		t.Errorf("rm without a name: exit %d, want 2", code)
	}
}
