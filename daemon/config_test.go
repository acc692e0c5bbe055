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
