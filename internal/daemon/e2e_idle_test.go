package daemon_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/edged/edged/internal/mqtttest"
)

// A VQA model that only asks use is closed after models.idle_unload without use, and loaded
// again by the next ask, which is answered as before; CLIP, which labels every frame, stays.
// The events are asserted (log, /healthz, metrics); the resident memory edged gives back is
// logged, not asserted.
func TestE2EIdleModelUnloadedAndReloaded(t *testing.T) {
	root := repoRoot(t)
	m, dir, port := shapesSetup(t)
	cfg := e2eConfig(t, dir, m.URL(), port, fmt.Sprintf("models:\n  clip: %s\n  blip_vqa: %s\n  idle_unload: 2s\n",
		filepath.Join(root, "models/shapes/clip"), filepath.Join(root, "models/shapes/blip_vqa")), labelledCamera)
	box, c := subscriber(t, m.URL(), "", true, "edged/e2e/#")
	p := startEdged(t, dir, cfg)
	box.WaitOn(t, "edged/e2e/available", "online", func(m mqtttest.Message) bool { return m.Payload == "online" })
	deadlineWait(t, "both models ready", func() bool {
		h := modelHealth(t, port)
		return h.Models["clip"].State == "ready" && h.Models["blip_vqa"].State == "ready"
	})
	// Full int8 by default: the image towers at int8, the text models at int8-dynamic (BLIP
	// bundle revision 3), int8 work on edged's kernels where the CPU has them.
	h := modelHealth(t, port)
	checkParts(t, "clip", h.Models["clip"], map[string]string{"vision": "int8", "text": "int8-dynamic"})
	checkParts(t, "blip_vqa", h.Models["blip_vqa"], map[string]string{"vision": "int8", "question_encoder": "int8-dynamic",
		"cross_kv": "int8-dynamic", "decoder_step": "int8-dynamic"})
	type answer struct {
		Frame     uint64 `json:"frame"`
		Answer    string `json:"answer"`
		RequestID string `json:"request_id"`
	}
	ask := func(id string) answer {
		t.Helper()
		mqtttest.Publish(t, c, "edged/e2e/demo/ask", false, fmt.Sprintf(`{"question": "what color is the background?", "request_id": %q, "reply_to": "edged/e2e/reply/%s"}`, id, id))
		a := decode[answer](t, box.WaitOn(t, "edged/e2e/reply/"+id, "the answer to "+id, nil))
		var truth string
		deadlineWait(t, "the answer's line on stdout, with the scene's truth", func() bool {
			truth = truthByFrame(p.stdout.String(), "answer")[a.Frame]
			return truth != ""
		})
		t.Logf("%s: %q (frame %d, truth %q)", id, a.Answer, a.Frame, truth)
		if a.Frame == 0 || a.Answer != truth || !slices.Contains([]string{"black", "gray", "white"}, a.Answer) {
			t.Errorf("%s: answer %+v, truth %q: want the background's color", id, a, truth)
		}
		return a
	}
	const unloaded, reloaded = `msg="model unloaded: idle and no camera's schedule uses it" model=blip_vqa`, `msg="model loaded again" model=blip_vqa`

	// 1. Used, then idle: unloaded.
	ask("before")
	loaded := rssBytes(t, p.cmd.Process.Pid)
	n := p.stderr.Count(unloaded)
	p.waitStderr(unloaded, n+1)
	freed := rssBytes(t, p.cmd.Process.Pid)
	t.Logf("edged's resident memory: %d MiB with the VQA model used, %d MiB after it was unloaded (%+d MiB)", loaded>>20, freed>>20, (freed-loaded)>>20)
	h = modelHealth(t, port)
	if v := h.Models["blip_vqa"]; v.State != "ready" || !v.Unloaded || v.Unloads < 1 {
		t.Errorf("/healthz models.blip_vqa %+v after the unload; want ready, unloaded, counted", v)
	}
	if h.Status != "ok" {
		t.Errorf("/healthz status %q with an unloaded model, want ok (it is not a problem): %v", h.Status, h.Problems)
	}
	if strings.Contains(p.stderr.String(), `msg="model unloaded: idle and no camera's schedule uses it" model=clip `) {
		t.Error("CLIP labels every frame, and was unloaded")
	}

	// 2. The next ask loads it again and is answered.
	r := p.stderr.Count(reloaded)
	ask("after")
	p.waitStderr(reloaded, r+1) // logged before the answer, read from edged's stderr apart
	if v := modelHealth(t, port).Models["blip_vqa"]; v.ReloadSeconds <= 0 {
		t.Errorf("/healthz models.blip_vqa %+v; want the reload's time", v)
	} else {
		t.Logf("reload took %.3f s (/healthz)", v.ReloadSeconds)
	}
	checkUnloadMetricsAndStop(t, p, port, "blip_vqa")
}

// checkUnloadMetricsAndStop checks that /metrics counts the unloads of model and times its
// reloads, then stops edged, which must exit cleanly.
func checkUnloadMetricsAndStop(t *testing.T, p *proc, port int, model string) {
	t.Helper()
	_, metrics := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	for _, want := range []string{`edged_model_unloads_total{model="` + model + `"} `, `edged_model_reload_seconds_count{model="` + model + `"} `} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(); code != 0 {
		t.Fatalf("exit status %d after SIGTERM", code)
	}
	noPanic(t, p)
}

// CLIP labels every frame, but needs its text tower only for texts it has not embedded yet:
// the text tower alone is closed after models.idle_unload while the labels go on, and loaded
// again by the next search, whose best hit shows the object searched for. The resident memory
// given back is logged, not asserted.
func TestE2EIdleCLIPTextTowerUnloadedAndReloaded(t *testing.T) {
	m, dir, port := shapesSetup(t)
	// The default config: the shapes CLIP runs at full int8 under shadow checks, whose
	// labeler can swap the model (calibrating.go); the idle text tower is its model's.
	cfg := e2eConfig(t, dir, m.URL(), port, fmt.Sprintf("models:\n  clip: %s\n  idle_unload: 2s\n",
		filepath.Join(repoRoot(t), "models/shapes/clip")), labelledCamera)
	box, c := subscriber(t, m.URL(), "", true, "edged/e2e/#")
	p := startEdged(t, dir, cfg)
	box.WaitOn(t, "edged/e2e/available", "online", func(m mqtttest.Message) bool { return m.Payload == "online" })
	const unloaded, reloaded = `msg="model unloaded: idle and no camera's schedule uses it"`, `msg="model loaded again" model=clip_text`

	// 1. Idle: the text tower is closed, CLIP itself labels on.
	deadlineWait(t, "CLIP ready", func() bool { return modelHealth(t, port).Models["clip"].State == "ready" })
	before := rssBytes(t, p.cmd.Process.Pid)
	p.waitStderr(unloaded+" model=clip_text", 1)
	after := rssBytes(t, p.cmd.Process.Pid)
	t.Logf("edged's resident memory: %d MiB before the text tower was unloaded, %d MiB after (%+d MiB)", before>>20, after>>20, (after-before)>>20)
	clip := modelHealth(t, port).Models["clip"]
	if clip.Calibration == nil || clip.Calibration.State != "calibrated" {
		t.Errorf("/healthz models.clip.calibration %+v; want the full-int8 model under shadow checks", clip.Calibration)
	}
	if clip.TextTower == nil || !clip.TextTower.Unloaded || clip.TextTower.Unloads < 1 || clip.Unloaded {
		t.Errorf("/healthz models.clip %+v, text tower %+v after the unload; want the text tower unloaded, the model not", clip, clip.TextTower)
	}
	from := len(box.On("edged/e2e/demo/labels"))
	checkLabelsTruthSince(t, p, box, from, 10, 2)
	if strings.Contains(p.stderr.String(), unloaded+" model=clip ") {
		t.Error("CLIP labels every frame, and was unloaded whole")
	}

	// 2. A search embeds its query: the text tower is loaded again, and the search answered.
	truth := truthByFrame(p.stdout.String(), "labels")
	var object string
	for _, tr := range truth {
		if !strings.Contains(tr, " and ") {
			object = tr
			break
		}
	}
	if object == "" {
		t.Fatalf("no frame with one object among %d labelled frames", len(truth))
	}
	r := p.stderr.Count(reloaded)
	mqtttest.Publish(t, c, "edged/e2e/search", false, fmt.Sprintf(`{"query": "a %s", "camera": "demo", "k": 3, "request_id": "s-1"}`, object))
	res := decode[searchResult](t, box.WaitOn(t, "edged/e2e/search/result", "the search's result", func(m mqtttest.Message) bool {
		return decode[searchResult](t, m).RequestID == "s-1"
	}))
	if res.Error != "" || len(res.Hits) != 3 {
		t.Fatalf("search for a %s: %+v", object, res)
	}
	if best := truthByFrame(p.stdout.String(), "labels")[res.Hits[0].Frame]; !slices.Contains(strings.Split(best, " and "), object) {
		t.Errorf("search for a %s: the best hit, frame %d, shows %q", object, res.Hits[0].Frame, best)
	}
	p.waitStderr(reloaded, r+1)
	if tt := modelHealth(t, port).Models["clip"].TextTower; tt == nil || tt.Unloaded || tt.ReloadSeconds <= 0 {
		t.Errorf("/healthz models.clip.text_tower %+v after the search; want loaded, with the reload's time", tt)
	} else {
		t.Logf("text tower reload took %.3f s (/healthz)", tt.ReloadSeconds)
	}
	checkUnloadMetricsAndStop(t, p, port, "clip_text")
}
