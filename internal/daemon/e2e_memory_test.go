package daemon_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/edged/edged/hf/hub/hubtest"
	"github.com/edged/edged/internal/daemon"
	"github.com/edged/edged/internal/mqtttest"
)

// A config whose models cannot fit in runtime.memory_limit is refused at start (exit 2),
// naming each model with its estimated size and what would make it fit: here the shapes
// models, two as checkpoints and one as a bundle, against 100.5 MiB (edged itself is counted
// at 100 MiB).
func TestE2EModelsOverMemoryLimitExit2(t *testing.T) {
	root := repoRoot(t)
	vqa := fp32Bundle(t, filepath.Join(root, "models/shapes/blip_vqa"))
	dir := t.TempDir()
	models := "runtime: {memory_limit: 100.5MiB, workers: 4}\nmodels:\n" +
		"  clip: " + filepath.Join(root, "models/shapes/clip") + "\n" +
		"  blip_caption: " + filepath.Join(root, "models/shapes/blip_caption") + "\n" +
		"  blip_vqa: " + vqa.Dir + "\n"
	cfg := e2eConfig(t, dir, "tcp://127.0.0.1:1", mqtttest.FreePort(t), models, syntheticCamera)
	p := startEdged(t, dir, cfg)
	if code := p.exitCode(); code != 2 {
		t.Fatalf("exit status %d, want 2:\n%s", code, p.stderr.Tail(20))
	}
	out := p.stderr.String()
	t.Log(out)
	for _, want := range []string{
		`edged.yaml:7: runtime.memory_limit: the models need about [0-9.]+ MiB with edged itself \(100.0 MiB\), more than the 100.5 MiB allowed`,
		`models.clip [0-9.]+ [KM]iB \(checkpoint of [0-9]+ M weights at int8: [0-9.]+ [KM]iB per session × 2\)`,
		`models.blip_caption [0-9.]+ [KM]iB \(checkpoint of [0-9]+ M weights at int8`,
		`models.blip_vqa [0-9.]+ [KM]iB \(bundle at fp32: [0-9.]+ [KM]iB per session × 2\)`,
		`To fit: .*runtime.workers: 2 \(one session of each model: [0-9.]+ MiB\)`,
		`runtime.precision: int8`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("stderr does not match %q", want)
		}
	}
	noPanic(t, p)
}

// memoryWaitConfig labels the synthetic camera with the checkpoint clip, which edged
// calibrates on the camera, beside the VQA bundle vqa (which no schedule uses: unloaded after
// idle), under memory_limit limit bytes.
func memoryWaitConfig(t *testing.T, dir, broker string, port int, clip, vqa string, limit int64, idle string) string {
	t.Helper()
	writeFile(t, dir, "labels/shapes.yaml", readRepoFile(t, "configs/labels/shapes.yaml"))
	return e2eConfig(t, dir, broker, port, fmt.Sprintf("runtime: {memory_limit: %d}\nmodels:\n  clip: %s\n  blip_vqa: %s\n  idle_unload: %s\n"+
		"  calibration: {min_frames: 16, min_span: 2s, every: 100ms}\n", limit, clip, vqa, idle),
		`  - name: demo
    source: {kind: synthetic, fps: 10, scene_every: 600ms, seed: 7}
    labels: {sets: [labels/shapes.yaml], every: 200ms, top_k: 3}
`)
}

// calibrationMemory is models.clip's calibration state and memory figures on /healthz.
func calibrationMemory(t *testing.T, port int) (string, daemon.MemoryWait) {
	t.Helper()
	c := healthModel(t, port, "clip").Calibration
	if c == nil {
		return "", daemon.MemoryWait{}
	}
	if c.Memory == nil {
		return c.State, daemon.MemoryWait{}
	}
	return c.State, *c.Memory
}

// A memory_limit that fits the models (CLIP, calibrated on the camera, and a VQA model) but
// not CLIP's calibration beside them: edged starts, warning with the figures; the calibration
// waits for memory (/healthz with the figures, the live page, the metric, one WARN), and once
// the idle unloader closes the VQA model the conversion fits and runs to the gate's verdict.
// A first run, whose limit fits no calibration at all, reads the figures the limit of the
// second is made from: what the conversion needs, and what is loaded with and without the VQA
// model.
func TestE2ECalibrationWaitsForMemory(t *testing.T) {
	root := repoRoot(t)
	clip, vqa := unrecognisedShapesCLIP(t), fp32Bundle(t, filepath.Join(root, "models/shapes/blip_vqa")).Dir
	m := mqtttest.StartBroker(t)
	dir, port := t.TempDir(), mqtttest.FreePort(t)
	const waiting, warning = "waiting_for_memory", `level=WARN msg="calibration: waiting for memory`
	const vqaUnloaded = `msg="model unloaded: idle and no camera's schedule uses it" model=blip_vqa`

	cfg := memoryWaitConfig(t, dir, m.URL(), port, clip, vqa, 150<<20, "8s")
	p := startEdged(t, dir, cfg)
	p.waitStderr("edged starts: such work waits", 1)
	p.waitStderr(`msg="edged running"`, 1)
	var withVQA, withoutVQA daemon.MemoryWait
	deadlineWait(t, "the calibration waiting for memory beside both models", func() bool {
		state, w := calibrationMemory(t, port)
		withVQA = w
		if p.stderr.Count(vqaUnloaded) > 0 {
			t.Fatal("the VQA model was unloaded before the wait was seen: too slow a machine for this idle_unload")
		}
		return state == waiting
	})
	p.waitStderr(vqaUnloaded, 1)
	deadlineWait(t, "the figures without the VQA model", func() bool {
		state, w := calibrationMemory(t, port)
		withoutVQA = w
		return state == waiting && w.Loaded < withVQA.Loaded
	})
	t.Logf("first run: %+v with the VQA model, %+v without", withVQA, withoutVQA)
	if withVQA.Need != withoutVQA.Need || withVQA.Limit != 150<<20 || withVQA.Need+withoutVQA.Loaded <= withVQA.Limit {
		t.Fatalf("figures %+v, then %+v: want the same need, more than 150 MiB beside either", withVQA, withoutVQA)
	}
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(); code != 0 {
		t.Fatalf("first run: exit status %d", code)
	}

	// The limit fits the conversion only once the VQA model is unloaded.
	limit := withVQA.Need + (withVQA.Loaded+withoutVQA.Loaded)/2
	cfg = memoryWaitConfig(t, dir, m.URL(), port, clip, vqa, limit, "8s")
	p = startEdged(t, dir, cfg)
	p.waitStderr("edged starts: such work waits", 1)
	p.waitStderr(`msg="edged running"`, 1)
	deadlineWait(t, "the calibration waiting for memory beside both models", func() bool {
		state, w := calibrationMemory(t, port)
		return state == waiting && w == daemon.MemoryWait{Need: withVQA.Need, Loaded: withVQA.Loaded, Limit: limit}
	})
	if p.stderr.Count(vqaUnloaded) > 0 {
		t.Fatal("the VQA model was unloaded before the wait was seen: too slow a machine for this idle_unload")
	}
	_, metrics := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if v := metricValue(metrics, `edged_calibration_waiting_for_memory{model="clip"}`); v != 1 {
		t.Errorf("edged_calibration_waiting_for_memory{model=\"clip\"} = %v while waiting, want 1", v)
	}
	if c := pageCalibration(t, port, "clip"); c.State != waiting || !strings.Contains(c.Memory, "beside") {
		t.Errorf("the live page's calibration of clip while waiting: %+v, want waiting_for_memory with the figures", c)
	}
	waitGateVerdict(t, p)
	// The wait was seen with the VQA model loaded, and the limit fits the conversion only
	// without it: its unload (which wakes the calibration: no frame needed) let it start.
	if p.stderr.Count(vqaUnloaded) != 1 || p.stderr.Count("calibration: converting models.clip to full int8") != 1 {
		t.Errorf("want the VQA model's unload and one conversion in the log")
	}
	if n := p.stderr.Count("edged starts: such work waits"); n != 1 {
		t.Errorf("%d WARN lines at start for the calibration that does not fit beside the models, want 1", n)
	}
	if n := p.stderr.Count(warning); n != 1 {
		t.Errorf("%d WARN lines for the wait, want 1", n)
	}
	if state, w := calibrationMemory(t, port); state == waiting || w != (daemon.MemoryWait{}) {
		t.Errorf("after the verdict: %s, %+v", state, w)
	}
	_, metrics = httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if v := metricValue(metrics, `edged_calibration_waiting_for_memory{model="clip"}`); v != 0 {
		t.Errorf("edged_calibration_waiting_for_memory{model=\"clip\"} = %v after the wait, want 0", v)
	}
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(); code != 0 {
		t.Fatalf("exit status %d after SIGTERM", code)
	}
	noPanic(t, p)
}

// A repository not pulled yet cannot be measured at start: edged starts, and the model fails
// (a health problem, edged keeps running) with the budget's message once its bundle is ready.
// The next start finds its checkpoint in the hub cache and refuses the config at once.
func TestE2ERepositoryOverMemoryLimitFails(t *testing.T) {
	srv := hubtest.New(t)
	srv.AddFolder(t, "shapes/clip", filepath.Join(repoRoot(t), "models/shapes/clip"), hubtest.RepoOptions{})
	m, dir, port := shapesSetup(t)
	cfg := e2eConfig(t, dir, m.URL(), port, "runtime: {memory_limit: 100.5MiB}\nmodels:\n  clip: shapes/clip\n", labelledCamera)
	env := hubEnv(srv.URL, dir)

	p := startEdged(t, dir, cfg, env...)
	p.waitStderr(`msg="edged running"`, 1)
	var clip daemon.ModelStatus
	deadlineWait(t, "models.clip to fail over the budget", func() bool {
		if p.done() {
			t.Fatalf("edged exited (status %d); a model over the budget found late must not stop it:\n%s", p.exitCode(), p.stderr.Tail(20))
		}
		clip = modelHealth(t, port).Models["clip"]
		return clip.State == "failed"
	})
	if !regexp.MustCompile(`runtime.memory_limit: the models need about [0-9.]+ MiB .*models.clip [0-9.]+ [KM]iB \(bundle at int8`).MatchString(clip.Error) {
		t.Errorf("models.clip error %q; want the budget's figures", clip.Error)
	}
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(); code != 0 {
		t.Fatalf("exit status %d after SIGTERM", code)
	}
	noPanic(t, p)

	p = startEdged(t, dir, cfg, env...)
	if code := p.exitCode(); code != 2 {
		t.Fatalf("second start: exit status %d, want 2:\n%s", code, p.stderr.Tail(20))
	}
	if out := p.stderr.String(); !strings.Contains(out, "runtime.memory_limit") || !strings.Contains(out, "(checkpoint of ") {
		t.Errorf("second start: stderr %q; want the budget's figures from the cached checkpoint", out)
	}
}

// modelHealth is edged's /healthz.
func modelHealth(t *testing.T, port int) daemon.Health {
	t.Helper()
	_, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	var h daemon.Health
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("/healthz: %v: %s", err, body)
	}
	return h
}
