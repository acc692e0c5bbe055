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
		`edged.yaml:7: runtime.memory_limit: the models need about [0-9.]+ MiB with edged itself \(100.0 MiB\), and [0-9.]+ MiB at times: [0-9.]+ MiB more during models.blip_caption's shadow checks, which calibrate it again when they fail: a child edged converting it at full int8, more than the 100.5 MiB allowed`,
		`models.clip [0-9.]+ [KM]iB \(checkpoint of [0-9]+ M weights at int8: [0-9.]+ [KM]iB per session × 2\)`,
		`models.blip_caption [0-9.]+ [KM]iB \(checkpoint of [0-9]+ M weights at int8`,
		`models.blip_vqa [0-9.]+ [KM]iB \(bundle at fp32: [0-9.]+ [KM]iB per session × 2\)`,
		`To fit: .*runtime.workers: 2 \(one session of each model: [0-9.]+ MiB, [0-9.]+ MiB at times\)`,
		`runtime.precision: int8`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("stderr does not match %q", want)
		}
	}
	noPanic(t, p)
}

// With shadow checks (the default for the shapes CLIP, which converts at full int8 on edged's
// own calibration data), CLIP may be converted again while edged runs: a memory_limit between
// the steady models (about 101 MiB with edged itself) and that peak (about 205 MiB, the child
// conversion's own edged counted) is refused, naming the peak and models.calibration: {shadow:
// false}, and with that setting the same limit starts.
func TestE2ECalibrationPeakOverMemoryLimit(t *testing.T) {
	clip := filepath.Join(repoRoot(t), "models/shapes/clip")
	dir := t.TempDir()
	cfg := e2eConfig(t, dir, "tcp://127.0.0.1:1", mqtttest.FreePort(t), "runtime: {memory_limit: 150MiB}\nmodels:\n  clip: "+clip+"\n", syntheticCamera)
	p := startEdged(t, dir, cfg)
	if code := p.exitCode(); code != 2 {
		t.Fatalf("exit status %d, want 2:\n%s", code, p.stderr.Tail(20))
	}
	out := p.stderr.String()
	t.Log(out)
	want := `runtime.memory_limit: the models need about 10[0-9.]+ MiB with edged itself \(100.0 MiB\), and 2[0-9.]+ MiB at times: 1[0-9.]+ MiB more during ` +
		`models.clip's shadow checks, which calibrate it again when they fail: a child edged converting it at full int8, more than the 150.0 MiB allowed: ` +
		`models.clip .* To fit: models.calibration: \{shadow: false\}`
	if !regexp.MustCompile(want).MatchString(out) {
		t.Errorf("stderr does not match %q", want)
	}
	noPanic(t, p)

	cfg = e2eConfig(t, dir, "tcp://127.0.0.1:1", mqtttest.FreePort(t), "runtime: {memory_limit: 150MiB}\nmodels:\n  clip: "+clip+"\n  calibration: {shadow: false}\n", syntheticCamera)
	p = startEdged(t, dir, cfg)
	p.waitStderr(`msg="edged running"`, 1)
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(); code != 0 {
		t.Fatalf("with shadow checks off: exit status %d:\n%s", code, p.stderr.Tail(20))
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
