package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The shipped default config must load as it is.
func TestShippedConfig(t *testing.T) {
	c, err := LoadConfig("../configs/edged.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.Broker != "embedded" || len(c.Cameras) != 1 || c.Cameras[0].Source.Kind != "synthetic" {
		t.Fatalf("unexpected default config: %+v", c)
	}
	if c.Cameras[0].Caption.Every != 5*time.Second || c.Cameras[0].Labels.Every != time.Second {
		t.Fatalf("schedules: %+v", c.Cameras[0])
	}
	if got := c.Resolve(c.Models.CLIP); got != filepath.Join("..", "models", "shapes", "clip") {
		t.Fatalf("resolved clip path %q", got)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	labels := filepath.Join(dir, "l.yaml")
	if err := os.WriteFile(labels, []byte("name: l\nlabels: [a]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := "device: d\nmodels:\n  clip: " + dir + "\ncameras:\n  - name: c\n    source: {kind: synthetic}\n"
	cases := []struct{ name, src, want string }{
		{"unknown top key", "devise: d\n", "x.yaml:1: field devise not found"},
		{"unknown nested key", base + "    captoin: {every: 5s}\n", "x.yaml:7: field captoin not found"},
		{"wrong type", "device: d\nruntime: {threads: many}\n", "x.yaml:2:"},
		{"bad delegate", base + "runtime:\n  delegate: tpu\n", `x.yaml:8: runtime.delegate: "tpu" is not one of`},
		{"bad precision", base + "runtime:\n  precision: int4\n", `x.yaml:8: runtime.precision: "int4"`},
		{"bad kernels", base + "runtime:\n  kernels: avx1024\n", `x.yaml:8: runtime.kernels: kernels: unknown kernel "avx1024" (want auto, off or one of`},
		{"external needs library", base + "runtime:\n  delegate: external\n", "runtime.delegate_library: the external delegate needs"},
		{"no cameras", "device: d\n", "cameras: at least one camera"},
		{"bad camera name", "device: d\ncameras:\n  - name: a/b\n    source: {kind: synthetic}\n", `x.yaml:3: cameras[0].name: "a/b"`},
		{"bad source kind", "device: d\ncameras:\n  - name: a\n    source: {kind: webcam}\n", `x.yaml:4: cameras[0].source.kind: "webcam"`},
		{"missing folder", "device: d\ncameras:\n  - name: a\n    source: {kind: folder, path: /nope}\n", "cameras[0].source.path: stat /nope"},
		{"labels without every", base + "    labels: {sets: [" + labels + "]}\n", "cameras[0].labels.every: give how often"},
		{"caption without model", base + "    caption: {every: 5s}\n", "x.yaml:7: cameras[0].caption.every: captions need models.blip_caption"},
		{"bad duration", base + "    caption: {every: often}\n", "x.yaml:7:"},
		{"bad broker", base + "mqtt: {broker: 'localhost'}\n", `mqtt.broker: "localhost" is neither`},
		{"bad qos", base + "mqtt: {qos: 3}\n", "x.yaml:7: mqtt.qos: 3 is not 0, 1 or 2"},
		{"missing model", "device: d\nmodels: {clip: /no/model}\ncameras:\n  - name: a\n    source: {kind: synthetic}\n", "x.yaml:2: models.clip: stat /no/model"},
		{"empty question", strings.Replace(base, "  clip:", "  blip_vqa: "+dir+"\n  clip:", 1) + "    questions: {every: 5s, ask: ['']}\n", "x.yaml:8: cameras[0].questions.ask[0]: empty question"},
		{"duplicate key", base + "models: {}\n", `mapping key "models" already defined`},
		{"empty", "", "x.yaml: empty file"},
		{"negative search bound", base + "search: {max_frames: 10, max_bytes: -1}\n", "x.yaml:7: search.max_bytes: is negative"},
		{"bad thumbnail quality", base + "search: {thumb_quality: 101}\n", "search.thumb_quality: 101 is outside [1, 100]"},
		{"rerank without ITM", base + "search: {rerank: true}\n", "x.yaml:7: search.rerank: re-ranking needs models.blip_itm"},
		{"confirm without ITM", base + "    labels: {sets: [" + labels + "], every: 1s, confirm: {labels: [a]}}\n", "cameras[0].labels.confirm.labels: ITM-checked events need models.blip_itm"},
		{"confirm threshold", strings.Replace(base, "  clip:", "  blip_itm: "+dir+"\n  clip:", 1) + "    labels: {sets: [" + labels + "], every: 1s, confirm: {labels: [a], threshold: 1.5}}\n", "cameras[0].labels.confirm.threshold: 1.5 is outside (0, 1)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(c.src), "x.yaml")
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want a ConfigError containing %q", err, c.want)
			}
		})
	}
}

// The search section's keys reach the store; labels.confirm names labels of the camera's sets.
func TestSearchAndConfirmConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("l.yaml", "name: l\nlabels: [a, b]\n")
	if err := os.MkdirAll(filepath.Join(dir, "itm"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := func(confirm string) string {
		return write("c.yaml", "device: d\nmodels: {clip: "+dir+", blip_itm: itm}\n"+
			"search: {max_frames: 50, max_age: 10m, max_bytes: 1000000, thumb_width: 96, thumb_quality: 60, rerank: true, rerank_depth: 12}\n"+
			"cameras:\n  - name: c\n    source: {kind: synthetic}\n    labels: {sets: [l.yaml], every: 1s, confirm: "+confirm+"}\n")
	}
	st, err := loadState(conf("{labels: [b]}"))
	if err != nil {
		t.Fatal(err)
	}
	o := st.cfg.Search.recallOptions()
	if o.MaxFrames != 50 || o.MaxAge != 10*time.Minute || o.MaxBytes != 1000000 || o.ThumbWidth != 96 || o.ThumbQuality != 60 || o.RerankDepth != 12 || !st.cfg.Search.Rerank {
		t.Errorf("recall options %+v from %+v", o, st.cfg.Search)
	}
	c := st.cfg.Cameras[0].Labels.Confirm
	if !c.checks("b") || c.checks("a") || c.Threshold != 0.5 {
		t.Errorf("confirm %+v: want b checked at the default threshold 0.5, a not", c)
	}
	if st, err := loadState(conf("{labels: ['*'], threshold: 0.7}")); err != nil || !st.cfg.Cameras[0].Labels.Confirm.checks("a") {
		t.Errorf("'*' should check every label: %v", err)
	}
	_, err = loadState(conf("{labels: [a, cat]}"))
	if err == nil || !strings.Contains(err.Error(), `c.yaml:7: cameras[0].labels.confirm.labels[1]: camera "c" has no label "cat" in its label sets`) {
		t.Errorf("unknown label to confirm: %v", err)
	}
}
