package daemon_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clipspec "github.com/edged/edged/clip/spec"
	"github.com/edged/edged/internal/daemon"
	"github.com/edged/edged/internal/mqtttest"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/internal/web"
	"github.com/edged/edged/models"
	"github.com/edged/edged/runtime/tflite"
)

// calibrationTimeout bounds the wait for a conversion on the camera's frames: the child edged
// converts the checkpoint at full int8 and runs the gate against the safe bundle, niced below
// the daemon's own work, on a machine other tests load too.
const calibrationTimeout = 5 * time.Minute

// calibrationConfig runs CLIP from the checkpoint folder ckpt on the synthetic camera, with a
// reservoir that is ready after a few seconds.
func calibrationConfig(t *testing.T, dir, broker string, port int, ckpt, calibration string) string {
	t.Helper()
	writeFile(t, dir, "labels/shapes.yaml", readRepoFile(t, "configs/labels/shapes.yaml"))
	return e2eConfig(t, dir, broker, port, fmt.Sprintf("models:\n  clip: %s\n  calibration: %s", ckpt, calibration),
		`  - name: demo
    source: {kind: synthetic, fps: 10, scene_every: 600ms, seed: 7}
    labels: {sets: [labels/shapes.yaml], every: 200ms, top_k: 3}
`)
}

// unrecognisedShapesCLIP is the shapes CLIP with its config.json written compactly: the same
// model, but a checkpoint hash edged does not know, so nothing says which scenes calibrate it.
func unrecognisedShapesCLIP(t *testing.T) string {
	return testutil.EditedCheckpoint(t, filepath.Join(repoRoot(t), "models/shapes/clip"), "config.json", func(map[string]any) {})
}

// healthModel is models.<field> of /healthz.
// checkParts checks that /healthz's model s lists the precision of each part as want has it
// (role: precision, no more), on XNNPACK with int8 work on the kernels edged runs by default
// on this CPU.
func checkParts(t *testing.T, field string, s daemon.ModelStatus, want map[string]string) {
	t.Helper()
	kernel, err := tflite.KernelOf(tflite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range s.Parts {
		got[p.Role] = p.Precision
		wantKernel := ""
		if strings.HasPrefix(p.Precision, "int8") {
			wantKernel = kernel
		}
		if p.Delegate != "xnnpack" || p.Kernels != wantKernel {
			t.Errorf("/healthz models.%s part %+v, want on xnnpack with kernels %q", field, p, wantKernel)
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("/healthz models.%s parts %+v, want %v", field, s.Parts, want)
	}
}

func healthModel(t *testing.T, port int, field string) daemon.ModelStatus {
	t.Helper()
	_, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	var h daemon.Health
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("/healthz %q: %v", body, err)
	}
	return h.Models[field]
}

// calibrationE2E is edged started on a config for a checkpoint folder and a
// models.calibration, with a real broker, a subscriber to edged's topics and the cache.
type calibrationE2E struct {
	p               *proc
	box             *mqtttest.Recorder
	port            int
	dir, cache, cfg string
}

// startCalibrationE2E starts edged on config(ckpt, calibration), after before (which may put
// bundles in the cache).
func startCalibrationE2E(t *testing.T, config func(t *testing.T, dir, broker string, port int, ckpt, calibration string) string, ckpt, calibration string,
	before ...func(dir, cache string)) calibrationE2E {
	t.Helper()
	m := mqtttest.StartBroker(t)
	e := calibrationE2E{dir: t.TempDir(), port: mqtttest.FreePort(t)}
	e.cache = filepath.Join(e.dir, "cache")
	for _, f := range before {
		f(e.dir, e.cache)
	}
	e.cfg = config(t, e.dir, m.URL(), e.port, ckpt, calibration)
	e.box, _ = subscriber(t, m.URL(), "", true, "edged/e2e/#")
	e.p = startEdged(t, e.dir, e.cfg)
	return e
}

// cachedBundle is the one bundle of the cache.
func cachedBundle(t *testing.T, cache string) models.Entry {
	t.Helper()
	entries, err := models.List(cache)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("cache %s holds %d bundles, want one: %+v", cache, len(entries), entries)
	}
	return entries[0]
}

// cameraCalibratedBundle is the cache's one bundle, which must be the calibrated one in the
// place of safe: at full int8, calibrated on at least images camera frames and checked on at
// least checked, as its manifest records.
func cameraCalibratedBundle(t *testing.T, cache string, safe models.Entry, images, checked int) models.Entry {
	t.Helper()
	cal := cachedBundle(t, cache)
	c := cal.Bundle.Manifest.Calibration
	if cal.Name != safe.Name || cal.Bundle.Manifest.Precision != "int8" || c == nil || c.Source != "camera" || c.Images < images ||
		c.Check == nil || !c.Check.Passed || c.Check.Source != "camera" || c.Check.Frames < checked {
		t.Fatalf("cached bundle %s at %s, calibration %+v: want %s at int8 calibrated on ≥ %d camera frames, checked on ≥ %d",
			cal.Name, cal.Bundle.Manifest.Precision, c, safe.Name, images, checked)
	}
	return cal
}

// startsSafe checks that edged started field's model at the safe precision, calibrating on
// the camera toward minFrames frames: the cache's one bundle, which it returns, and /healthz.
func startsSafe(t *testing.T, p *proc, port int, cache, field string, minFrames int) models.Entry {
	t.Helper()
	p.waitStderr("models."+field+" runs at the safe precision", 1)
	p.waitStderr("feature started", 1)
	safe := cachedBundle(t, cache)
	if got := safe.Bundle.Manifest.Precision; got != "int8-dynamic" {
		t.Fatalf("the unrecognised checkpoint converted at %s, want int8-dynamic (no calibration data)", got)
	}
	if s := healthModel(t, port, field); s.Precision != "int8-dynamic" || s.Calibration == nil || s.Calibration.MinFrames != minFrames {
		t.Errorf("/healthz models.%s before calibrating: %+v, want precision int8-dynamic and the calibration's status", field, s)
	}
	return safe
}

// waitGateVerdict waits for the log to say the gate's verdict on a conversion on the camera's
// frames (passed, refused, or failed).
func waitGateVerdict(t *testing.T, p *proc) {
	t.Helper()
	mqtttest.Eventually(t, "the gate's verdict", calibrationTimeout, func() bool {
		if p.done() {
			t.Fatalf("edged exited while calibrating")
		}
		return p.stderr.Count("passed the fidelity gate") > 0 || p.stderr.Count("calibration: the f") > 0
	})
}

// refusedOnTheCamera waits for the gate's verdict, which must be a refusal that keeps the
// safe model doing task.
func refusedOnTheCamera(t *testing.T, p *proc, task string) {
	t.Helper()
	waitGateVerdict(t, p)
	if p.stderr.Count("the fidelity gate refused full int8 calibrated on the cameras' frames; "+task+" stays at the safe precision") == 0 {
		t.Fatalf("no refusal in the log:\n%s", p.stderr.Tail(40))
	}
}

// calibratedOnTheCamera waits for the gate to pass field's model and checks that the model
// doing task now is the full-int8 one: the log, /healthz (with the gate's figures) and the
// metrics say so. A refusal on the way is the gate at work (the shapes captioner calibrated
// on 24 frames changes a shape word on about one held-aside frame in 8 to 60 against the safe
// model, and the gate wants every caption the same): edged tries again on newer frames after
// models.calibration.retry, and the refusals are logged here. A failed conversion fails.
func calibratedOnTheCamera(t *testing.T, p *proc, port int, field, task string) daemon.ModelStatus {
	t.Helper()
	mqtttest.Eventually(t, "the model calibrated on the camera's frames", calibrationTimeout, func() bool {
		if p.done() || p.stderr.Count("calibration: the full-int8 conversion failed") > 0 {
			t.Fatalf("edged exited, or the conversion failed; the log says:\n%s", p.stderr.Tail(40))
		}
		return p.stderr.Count("passed the fidelity gate") > 0
	})
	if p.stderr.Count("passed the fidelity gate; "+task+" with it") != 1 {
		t.Fatalf("no swap to full int8; the log says:\n%s", p.stderr.Tail(40))
	}
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		if strings.Contains(line, "the fidelity gate refused") {
			t.Logf("refused before one passed: %s", line)
		}
	}
	s := healthModel(t, port, field)
	if s.Precision != "int8" || s.Calibration == nil || s.Calibration.State != "calibrated" || s.Calibration.Gate != "passed" ||
		s.Calibration.Check == nil || !s.Calibration.Check.Passed {
		t.Errorf("/healthz models.%s after the swap: %+v (calibration %+v), want precision int8, calibrated, passed, with the gate's figures", field, s, s.Calibration)
	}
	_, metrics := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if v := metricValue(metrics, fmt.Sprintf(`edged_model_full_int8{model=%q}`, field)); v != 1 {
		t.Errorf("edged_model_full_int8{model=%q} = %v, want 1", field, v)
	}
	if v := metricValue(metrics, fmt.Sprintf(`edged_calibration_conversions_total{model=%q,result="passed"}`, field)); v != 1 {
		t.Errorf("passed conversions = %v, want 1", v)
	}
	if c := pageCalibration(t, port, field); c.Precision != "int8" || c.State != "calibrated" || c.Gate != "passed" {
		t.Errorf("the live page's calibration of %s after the swap: %+v, want int8, calibrated, passed", field, c)
	}
	return s
}

// pageStatus is the live page's state: GET /api/cameras.
func pageStatus(t *testing.T, port int) web.Status {
	t.Helper()
	_, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/api/cameras", port))
	var st web.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// pageCalibration is what the live page's state says of field's calibration.
func pageCalibration(t *testing.T, port int, field string) web.ModelCalibration {
	t.Helper()
	st := pageStatus(t, port)
	for _, c := range st.Calibration {
		if c.Model == field {
			return c
		}
	}
	t.Errorf("the live page's state has no calibration of %s: %+v", field, st.Calibration)
	return web.ModelCalibration{}
}

func textTowerSHA(t *testing.T, e models.Entry) string {
	t.Helper()
	f, ok := e.Bundle.Manifest.File(clipspec.RoleTextTower)
	if !ok {
		t.Fatalf("%s has no text tower", e.Bundle.Dir)
	}
	return f.SHA256
}

// A checkpoint folder without calibration data starts at the safe precision; once the
// camera's frames are in, a child edged converts it to full int8 on them, the gate passes it
// against the safe model in the cache, and the daemon labels with it: the labels still match the scenes'
// truth. The calibrated bundle replaces the safe one in the cache, records the camera, and a
// restart uses it without converting again (shadow checks watching it).
func TestE2ECalibratesOnTheCamera(t *testing.T) {
	e := startCalibrationE2E(t, calibrationConfig, unrecognisedShapesCLIP(t), "{min_frames: 48, min_span: 4s, every: 100ms}")
	p, box, port, cache, dir, cfg := e.p, e.box, e.port, e.cache, e.dir, e.cfg

	safe := startsSafe(t, p, port, cache, "clip", 48)
	checkParts(t, "clip", healthModel(t, port, "clip"), map[string]string{"vision": "int8-dynamic", "text": "int8-dynamic"})
	calibratedOnTheCamera(t, p, port, "clip", "labelling")
	swapped := len(box.On("edged/e2e/demo/labels"))
	checkParts(t, "clip", healthModel(t, port, "clip"), map[string]string{"vision": "int8", "text": "int8-dynamic"})

	// The calibrated bundle took the safe one's place in the cache, with the same text tower
	// (the label sets' cached text embeddings carry over), and says what it calibrated on.
	cal := cameraCalibratedBundle(t, cache, safe, 30, 10)
	c := cal.Bundle.Manifest.Calibration
	if a, b := textTowerSHA(t, safe), textTowerSHA(t, cal); a != b {
		t.Errorf("text tower %s at the safe precision, %s calibrated: label embeddings would differ", a, b)
	}
	t.Logf("gate on the camera's frames: %d frames, mean cosine %.4f, worst %.4f, top-1 %.3f over %d",
		c.Check.Frames, c.Check.MeanCosine, c.Check.WorstCosine, c.Check.Top1Agreement, c.Check.Top1Compared)
	if c.Check.Reference != "int8-dynamic" {
		t.Errorf("the gate compared with the %q model, want the safe int8-dynamic one (the child converts no float reference)", c.Check.Reference)
	}

	// Labels after the swap match the scenes.
	checkLabelsTruthSince(t, p, box, swapped, 40, 5)

	// A restart loads the calibrated model from the cache without converting again.
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(); code != 0 {
		t.Fatalf("exit status %d after SIGTERM", code)
	}
	restarted := len(box.On("edged/e2e/demo/labels"))
	p2 := startEdged(t, dir, cfg)
	p2.waitStderr("feature started", 1)
	if s := healthModel(t, port, "clip"); s.Precision != "int8" || s.Calibration == nil || s.Calibration.State != "calibrated" {
		t.Errorf("/healthz models.clip after a restart: %+v (calibration %+v), want int8, calibrated (shadow checks watch it)", s, s.Calibration)
	}
	checkLabelsTruthSince(t, p2, box, restarted, 20, 4)
	for _, msg := range []string{"runs at the safe precision", "convert: "} {
		if strings.Contains(p2.stderr.String(), msg) {
			t.Errorf("after a restart the log says %q: the calibrated model should load as it is", msg)
		}
	}
}

// A model the gate refuses is not used: the safe model keeps labelling (also while the child
// converts), /healthz and the metrics say why, the cache keeps the safe bundle and its frames,
// and the conversion is tried again later on newer frames. Stopping edged while a conversion
// runs kills the child edged and removes its folder.
func TestE2ECalibrationRefusedKeepsTheSafeModel(t *testing.T) {
	// No int8 model reaches a mean cosine of 1 with the float one.
	e := startCalibrationE2E(t, calibrationConfig, unrecognisedShapesCLIP(t),
		"{min_frames: 24, min_span: 3s, every: 100ms, retry: 1s, min_mean_cosine: 1}")
	p, box, port, cache, dir := e.p, e.box, e.port, e.cache, e.dir

	const converting = "calibration: converting models.clip to full int8"
	p.waitStderr(converting, 1)
	during := len(box.On("edged/e2e/demo/labels"))
	refusedOnTheCamera(t, p, "labelling")
	if after := len(box.On("edged/e2e/demo/labels")); after <= during {
		t.Errorf("%d labels published while the child converted: labels stopped", after-during)
	}
	s := healthModel(t, port, "clip")
	if s.Precision != "int8-dynamic" || s.Calibration == nil || s.Calibration.Refused < 1 || !strings.Contains(s.Calibration.Gate, "mean cosine") {
		t.Errorf("/healthz models.clip after a refusal: %+v (calibration %+v), want int8-dynamic, refused by mean cosine", s, s.Calibration)
	}
	_, metrics := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if v := metricValue(metrics, `edged_calibration_conversions_total{model="clip",result="refused"}`); v < 1 {
		t.Errorf("refused conversions = %v, want ≥ 1", v)
	}
	if v := metricValue(metrics, `edged_model_full_int8{model="clip"}`); v != 0 {
		t.Errorf("edged_model_full_int8 = %v after a refusal, want 0", v)
	}
	if c := pageCalibration(t, port, "clip"); c.Precision != "int8-dynamic" || !strings.Contains(c.Gate, "mean cosine") {
		t.Errorf("the live page's calibration of clip after a refusal: %+v, want int8-dynamic and the bars missed", c)
	}
	safe := cachedBundle(t, cache)
	if safe.Bundle.Manifest.Precision != "int8-dynamic" {
		t.Errorf("cached bundle at %s after a refusal, want the safe int8-dynamic one", safe.Bundle.Manifest.Precision)
	}
	checkLabelsTruthSince(t, p, box, during, 20, 4)

	// The next attempt starts after retry; stopping edged during it ends the child.
	p.waitStderr(converting, 2)
	deadlineWait(t, "the child edged convert", func() bool { return len(childConversions(t, dir)) > 0 })
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(); code != 0 {
		t.Fatalf("exit status %d after SIGTERM", code)
	}
	if procs := childConversions(t, dir); len(procs) > 0 {
		t.Errorf("edged convert still runs after edged stopped: %v", procs)
	}
	leftovers, _ := filepath.Glob(filepath.Join(models.BundlesDir(cache), ".*partial-camera-*"))
	if len(leftovers) > 0 {
		t.Errorf("the stopped conversion's folder is left: %v", leftovers)
	}
	if _, err := os.Stat(filepath.Join(safe.Bundle.Dir, "frames", "calibration")); err != nil {
		t.Errorf("the frames went with the refused model: %v", err)
	}
}

// childConversions are the processes whose command line names dir (this test's folders).
func childConversions(t *testing.T, dir string) []string {
	t.Helper()
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var out []string
	for _, f := range cmdlines {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		line := strings.ReplaceAll(string(data), "\x00", " ")
		if strings.Contains(line, " convert ") && strings.Contains(line, dir) {
			out = append(out, line)
		}
	}
	return out
}
