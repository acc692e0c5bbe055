package daemon_test

import (
	"path/filepath"
	"regexp"
	"testing"

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
