package daemon_test

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/edged/edged/hf/hub/hubtest"
	"github.com/edged/edged/internal/daemon"
	"github.com/edged/edged/internal/mqtttest"
)

// edged run with a config that names its models by Hugging Face repository id, against a
// local hub serving the shapes checkpoints: the first start pulls and converts CLIP and labels
// the synthetic camera's scenes as their truth says, while a gated repository it has no token
// for fails on its own; a start with the hub down uses the cache (and waits for the model it
// never got), and one with HF_HUB_OFFLINE=1 sends the hub nothing.
func TestE2EModelsFromTheHub(t *testing.T) {
	root := repoRoot(t)
	srv := hubtest.New(t)
	srv.AddFolder(t, "shapes/clip", filepath.Join(root, "models/shapes/clip"), hubtest.RepoOptions{})
	srv.AddFolder(t, "shapes/blip-vqa", filepath.Join(root, "models/shapes/blip_vqa"), hubtest.RepoOptions{Token: "not-yours"})
	m, dir, port := shapesSetup(t)
	cfg := e2eConfig(t, dir, m.URL(), port, "models:\n  clip: shapes/clip\n  blip_vqa: shapes/blip-vqa@main", `  - name: demo
    source: {kind: synthetic, fps: 10, scene_every: 600ms, seed: 7}
    labels: {sets: [labels/shapes.yaml], every: 200ms, top_k: 3}
    questions: {every: 1s, ask: ["what color is the background?"]}
`)
	env := hubEnv(srv.URL, dir)
	health := func() daemon.Health {
		t.Helper()
		return modelHealth(t, port)
	}
	run := func(name string, env []string, check func(p *proc)) {
		t.Helper()
		t.Logf("--- %s", name)
		box, c := subscriber(t, m.URL(), "", true, "edged/e2e/#")
		defer c.Disconnect(100)
		p := startEdged(t, dir, cfg, env...)
		box.WaitOn(t, "edged/e2e/available", "online", func(m mqtttest.Message) bool { return m.Payload == "online" })
		checkLabelsTruth(t, p, box, 20, 4)
		check(p)
		p.signal(syscall.SIGTERM)
		if code := p.exitCode(); code != 0 {
			t.Fatalf("%s: exit status %d after SIGTERM", name, code)
		}
	}

	run("fresh cache, hub up", env, func(p *proc) {
		deadlineWait(t, "models.blip_vqa to fail as gated", func() bool { return health().Models["blip_vqa"].State == "failed" })
		h := health()
		if c := h.Models["clip"]; c.State != "ready" || c.Name != "shapes/clip" {
			t.Errorf("models.clip %+v; want ready", c)
		}
		if v := h.Models["blip_vqa"]; !strings.Contains(v.Error, "gated") || !strings.Contains(v.Error, "HF_TOKEN") {
			t.Errorf("models.blip_vqa error %q; want it to say the repository is gated and HF_TOKEN opens it", v.Error)
		}
		if h.Status != "degraded" {
			t.Errorf("status %q with a failed model, want degraded", h.Status)
		}
		if n := p.stdout.Count(" answer "); n != 0 {
			t.Errorf("%d answers without a VQA model", n)
		}
		// The live page shows the model that does not run, and the log the pull's progress.
		st := pageStatus(t, port)
		if len(st.Preparing) != 1 || st.Preparing[0].Model != "blip_vqa" || st.Preparing[0].State != "failed" {
			t.Errorf("the page's preparing list %+v; want blip_vqa failed", st.Preparing)
		}
		for _, line := range []string{`msg="pull: model.safetensors done"`, `msg="convert: vision tower: build done"`, `msg="model ready" model=clip`} {
			if !strings.Contains(p.stderr.String(), line) {
				t.Errorf("the log has no %s", line)
			}
		}
	})

	srv.SetDown(true)
	run("hub down, cache complete", env, func(p *proc) {
		deadlineWait(t, "models.blip_vqa to wait for the hub", func() bool { return health().Models["blip_vqa"].State == "waiting" })
		h := health()
		if h.Status != "preparing" || h.Models["clip"].State != "ready" {
			t.Errorf("health %+v; want preparing with clip ready", h)
		}
		p.waitStderr("using the cached snapshot", 1)
	})

	srv.SetDown(false)
	srv.ResetRequests()
	run("HF_HUB_OFFLINE=1", append(env, "HF_HUB_OFFLINE=1"), func(p *proc) {
		deadlineWait(t, "models.blip_vqa to fail offline", func() bool { return health().Models["blip_vqa"].State == "failed" })
		if v := health().Models["blip_vqa"]; !strings.Contains(v.Error, "HF_HUB_OFFLINE") {
			t.Errorf("models.blip_vqa error %q; want it to name HF_HUB_OFFLINE", v.Error)
		}
	})
	if reqs := srv.Requests(); len(reqs) != 0 {
		t.Errorf("with HF_HUB_OFFLINE=1 the hub got %d requests: %+v", len(reqs), reqs)
	}
}
