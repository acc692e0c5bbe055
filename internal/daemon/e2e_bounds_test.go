package daemon_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/bundle"
	clipspec "github.com/edged/edged/clip/spec"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/mqtttest"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/models"
)

// These tests give the real edged the inputs that once crashed it or took the machine down
// (issue "Safe on a home network"): each is a clear error, and edged either keeps running or
// exits with 1 at start (a config beyond its bounds: 2) — never a panic.

// labelledCamera labels the synthetic camera's frames with the shapes label set.
const labelledCamera = `  - name: demo
    source: {kind: synthetic, fps: 10, scene_every: 500ms, seed: 7}
    labels: {sets: [labels/shapes.yaml], every: 200ms}
`

// fp32Bundle converts a shapes checkpoint at fp32 into the test's folder.
func fp32Bundle(t *testing.T, checkpoint string) *bundle.Bundle {
	t.Helper()
	b, err := models.Convert(checkpoint, filepath.Join(t.TempDir(), "bundle"), convert.Options{Precision: graph.FP32})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// noPanic fails the test when edged's log holds a Go panic or fatal error.
func noPanic(t *testing.T, p *proc) {
	t.Helper()
	for _, s := range []string{"panic:", "goroutine ", "fatal error:", "internal error"} {
		if strings.Contains(p.stderr.String(), s) {
			t.Errorf("edged's log holds %q:\n%s", s, p.stderr.Tail(40))
		}
	}
}

// Broken model files are errors of that model, naming the file and the value: a manifest's
// numbers out of range, a tokenizer's ids out of range, a checkpoint whose config would make
// every result NaN. Models are prepared in the background, so edged keeps running without the
// features that need the model, /healthz (503, degraded) says which model failed and why, and
// SIGTERM still stops it cleanly.
func TestE2EBrokenModelsAreHealthProblems(t *testing.T) {
	root := repoRoot(t)
	shapesCLIP, shapesCaption := filepath.Join(root, "models/shapes/clip"), filepath.Join(root, "models/shapes/blip_caption")
	clipBundle, captionBundle := fp32Bundle(t, shapesCLIP), fp32Bundle(t, shapesCaption)
	setValue := func(name string, v any) func(*bundle.Manifest) {
		return func(m *bundle.Manifest) { m.Values[name] = v }
	}

	badTokenizer := testutil.EditedBundle(t, clipBundle, func(*bundle.Manifest) {})
	testutil.EditJSONFile(t, filepath.Join(badTokenizer.Dir, "tokenizer.json"), func(tok map[string]any) {
		tok["model"].(map[string]any)["vocab"].(map[string]any)["!"] = -3
	})
	// The edited tokenizer.json no longer matches the manifest: refused as damaged. With the
	// manifest updated too (a hand-made bundle), the tokenizer's own check refuses it.
	badTokenizerSigned := testutil.EditedBundle(t, badTokenizer, func(m *bundle.Manifest) {
		for i, f := range m.Files {
			if f.Role == bundle.RoleTokenizer {
				path := filepath.Join(badTokenizer.Dir, f.Path)
				sum, err := bundle.FileSHA256(path)
				if err != nil {
					t.Fatal(err)
				}
				fi, _ := os.Stat(path)
				m.Files[i].SHA256, m.Files[i].Size = sum, fi.Size()
			}
		}
	})
	nanConfig := testutil.EditedCheckpoint(t, shapesCLIP, "config.json", func(c map[string]any) {
		c["text_config"].(map[string]any)["layer_norm_eps"] = -1
	})

	for _, c := range []struct {
		name, models, camera string
		want                 []string
	}{
		{"negative projection_dim", "  clip: " + testutil.EditedBundle(t, clipBundle, setValue(clipspec.ValueProjection, -5.0)).Dir, labelledCamera,
			[]string{"models.clip", `value "projection_dim" is -5, want 1 to 16384`}},
		{"decoder_cache 1e9", "  blip_caption: " + testutil.EditedBundle(t, captionBundle, setValue(spec.ValueDecoderCache, 1e9)).Dir,
			syntheticCamera + "    caption: {every: 1s}\n", []string{"models.blip_caption", `value "decoder_cache" is 1000000000, want 1 to 16384`}},
		{"edited tokenizer", "  clip: " + badTokenizer.Dir, labelledCamera, []string{"models.clip", "tokenizer.json is 17002 bytes, the manifest says 24857", "convert its checkpoint again"}},
		{"tokenizer id out of range", "  clip: " + badTokenizerSigned.Dir, labelledCamera, []string{`token "!" has id -3, outside 0 to 1048575`}},
		{"layer_norm_eps -1", "  clip: " + nanConfig, labelledCamera, []string{"models.clip", "text_config.layer_norm_eps: want a small positive number such as 1e-5, got -1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := mqtttest.StartBroker(t)
			dir := t.TempDir()
			writeFile(t, dir, "labels/shapes.yaml", readRepoFile(t, "configs/labels/shapes.yaml"))
			port := mqtttest.FreePort(t)
			cfg := e2eConfig(t, dir, m.URL(), port, "models:\n"+c.models+"\n", c.camera)
			p := startEdged(t, dir, cfg)
			p.waitStderr(`msg="edged running"`, 1)
			var problems string
			deadlineWait(t, "/healthz to name the failed model", func() bool {
				if p.done() {
					t.Fatalf("edged exited (status %d); a broken model must not stop it:\n%s", p.exitCode(), p.stderr.Tail(20))
				}
				code, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
				var h struct {
					Status   string
					Problems []string
				}
				if json.Unmarshal([]byte(body), &h) != nil {
					return false
				}
				problems = strings.Join(h.Problems, "; ")
				return code == 503 && h.Status == "degraded" && strings.Contains(problems, ": failed: ")
			})
			for _, w := range c.want {
				if !strings.Contains(problems, w) {
					t.Errorf("/healthz does not say %q: %s", w, problems)
				}
			}
			// The status is set before the line is logged: wait for it rather than read at once.
			p.waitStderr(`msg="model failed; the features that need it stay off"`, 1)
			noPanic(t, p)
			p.signal(syscall.SIGTERM)
			if code := p.exitCode(); code != 0 {
				t.Errorf("exit status %d after SIGTERM, want 0", code)
			}
		})
	}
}

// A model whose results are NaN (a damaged weight) is an error of that model: edged keeps
// running, publishes no labels, and /healthz says which model fails and why, while MQTT is
// fine (NaN once went out as results that could not be published, with /healthz ok).
func TestE2ENaNModelIsAHealthProblem(t *testing.T) {
	root := repoRoot(t)
	poisoned := testutil.PoisonedCheckpoint(t, filepath.Join(root, "models/shapes/clip"), "visual_projection.weight")
	m := mqtttest.StartBroker(t)
	dir := t.TempDir()
	port := mqtttest.FreePort(t)
	writeFile(t, dir, "labels/shapes.yaml", readRepoFile(t, "configs/labels/shapes.yaml"))
	cfg := e2eConfig(t, dir, m.URL(), port, "runtime: {precision: fp32}\nmodels:\n  clip: "+poisoned+"\n", labelledCamera)
	box, _ := subscriber(t, m.URL(), "", true, "edged/e2e/#")
	p := startEdged(t, dir, cfg)
	box.WaitOn(t, "edged/e2e/available", "online", func(m mqtttest.Message) bool { return m.Payload == "online" })

	type health struct {
		Status   string
		Problems []string
		MQTT     struct {
			Connected bool
			LastError string `json:"last_error"`
		}
	}
	var h health
	deadlineWait(t, "/healthz to name the failing model", func() bool {
		code, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			t.Fatalf("healthz %q: %v", body, err)
		}
		return code == 503 && h.Status == "degraded" && strings.Contains(strings.Join(h.Problems, "; "), "model clip_image: ")
	})
	problems := strings.Join(h.Problems, "; ")
	if !strings.Contains(problems, "not finite") || !strings.Contains(problems, `"image_embeds"`) {
		t.Errorf("the problem does not say what is wrong: %s", problems)
	}
	if !h.MQTT.Connected || h.MQTT.LastError != "" {
		t.Errorf("MQTT %+v: a model's NaN is not a publishing problem", h.MQTT)
	}
	failed := regexp.MustCompile(`(?m)^edged_jobs_total\{camera="demo",kind="labels",result="error"\} (\d+)$`)
	deadlineWait(t, "three failed labelling jobs", func() bool {
		_, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
		m := failed.FindStringSubmatch(body)
		if m == nil {
			return false
		}
		n, _ := strconv.Atoi(m[1])
		return n >= 3
	})
	if got := box.On("edged/e2e/demo/labels"); len(got) != 0 {
		t.Errorf("%d labels published from NaN embeddings: %q", len(got), got[0].Payload)
	}
	noPanic(t, p)
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}

// Configs beyond the bounds are config errors (exit status 2) naming the file, line and field.
func TestE2EUnboundedConfigExits2(t *testing.T) {
	var many strings.Builder
	many.WriteString("name: many\nlabels:\n")
	for i := range 1001 {
		fmt.Fprintf(&many, "  - thing %d\n", i)
	}
	for _, c := range []struct{ name, extra, camera, want string }{
		{"workers", "runtime: {workers: 100000}\n", syntheticCamera, "edged.yaml:7: runtime.workers: 100000 is more than 64"},
		{"queue", "  queue_size: 9223372036854775807\n", syntheticCamera, "edged.yaml:7: mqtt.queue_size: 9223372036854775807 is more than 100000"},
		{"labels every 1ns", "models: {clip: " + filepath.Join(repoRoot(t), "models/shapes/clip") + "}\n",
			syntheticCamera + "    labels: {sets: [many.yaml], every: 1ns}\n", "cameras[0].labels.every: 1ns is outside [10ms, 24h0m0s]"},
		{"1001 labels", "models: {clip: " + filepath.Join(repoRoot(t), "models/shapes/clip") + "}\n",
			syntheticCamera + "    labels: {sets: [many.yaml], every: 1s}\n", "many.yaml:1003: labels[1000]: 1001 labels, more than the 1000 a set may have"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "many.yaml", many.String())
			cfg := e2eConfig(t, dir, "tcp://127.0.0.1:1", mqtttest.FreePort(t), c.extra, c.camera)
			p := startEdged(t, dir, cfg)
			if code := p.exitCode(); code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			if !strings.Contains(p.stderr.String(), c.want) {
				t.Errorf("stderr %q, want %q", p.stderr.String(), c.want)
			}
			noPanic(t, p)
		})
	}
}

// The model cache heals: a conversion killed with SIGKILL leaves a partial folder that the next
// start removes; a cached model whose bytes were overwritten is verified at the next start and
// converted again (it once failed every start).
func TestE2EModelCacheHeals(t *testing.T) {
	m := mqtttest.StartBroker(t)
	dir := t.TempDir()
	port := mqtttest.FreePort(t)
	writeFile(t, dir, "labels/shapes.yaml", readRepoFile(t, "configs/labels/shapes.yaml"))
	cfg := e2eConfig(t, dir, m.URL(), port, "models:\n  clip: "+filepath.Join(repoRoot(t), "models/shapes/clip")+"\n", labelledCamera)
	modelsDir := filepath.Join(dir, "cache", "models")
	partials := func() []string {
		p, _ := filepath.Glob(filepath.Join(modelsDir, ".*.partial-*"))
		return p
	}

	// 1. Killed while converting (the default precision calibrates for a few seconds).
	p := startEdged(t, dir, cfg)
	deadlineWait(t, "a conversion in progress", func() bool {
		if p.done() {
			t.Fatalf("edged exited (%v) before its conversion was seen", p.cmd.ProcessState)
		}
		return len(partials()) > 0
	})
	p.signal(syscall.SIGKILL)
	p.exitCode()
	left := partials()
	if len(left) == 0 {
		t.Fatal("the killed conversion left no partial folder: nothing to clean")
	}

	// 2. The next start removes it and converts.
	p = startEdged(t, dir, cfg)
	p.waitStderr("model ready", 1)
	for _, f := range left {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s is still there after a start: %v", f, err)
		}
	}
	if !strings.Contains(p.stderr.String(), "removed an unfinished conversion") {
		t.Errorf("edged did not say it removed the unfinished conversion:\n%s", p.stderr.Tail(20))
	}
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(); code != 0 {
		t.Fatalf("exit status %d", code)
	}

	// 3. Overwritten bytes, same size: found at the next start and converted again.
	vision, _ := filepath.Glob(filepath.Join(modelsDir, "clipmodel-*", "vision.tflite"))
	if len(vision) != 1 {
		t.Fatalf("cached vision towers: %v", vision)
	}
	data, err := os.ReadFile(vision[0])
	if err != nil {
		t.Fatal(err)
	}
	for i := len(data) / 3; i < len(data)/3+64; i++ {
		data[i] ^= 0x5a
	}
	if err := os.WriteFile(vision[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
	box, _ := subscriber(t, m.URL(), "", true, "edged/e2e/demo/labels")
	p = startEdged(t, dir, cfg)
	p.waitStderr("a cached model is damaged; converting it again", 1)
	box.WaitOn(t, "edged/e2e/demo/labels", "labels from the converted model", func(mqtttest.Message) bool { return true })
	b, err := bundle.Read(filepath.Dir(vision[0]))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(); err != nil {
		t.Errorf("the cache entry after the start: %v", err)
	}
	noPanic(t, p)
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}
