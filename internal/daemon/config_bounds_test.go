package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Values that would take the machine down are config errors naming the file, line and field
// (each was accepted once: README, "Configuration").
func TestConfigBounds(t *testing.T) {
	dir := t.TempDir()
	labels := filepath.Join(dir, "l.yaml")
	if err := os.WriteFile(labels, []byte("name: l\nlabels: [a]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := "device: d\nmodels:\n  clip: " + dir + "\ncameras:\n  - name: c\n    source: {kind: synthetic}\n"
	for _, c := range []struct{ name, src, want string }{
		{"workers", base + "runtime: {workers: 100000}\n", "x.yaml:7: runtime.workers: 100000 is more than 64"},
		{"threads", base + "runtime: {threads: 100000}\n", "x.yaml:7: runtime.threads: 100000 is more than 64"},
		{"labels every 1ns", base + "    labels: {sets: [" + labels + "], every: 1ns}\n", "x.yaml:7: cameras[0].labels.every: 1ns is outside [10ms, 24h0m0s]"},
		{"caption every week", strings.Replace(base, "  clip:", "  blip_caption: "+dir+"\n  clip:", 1) + "    caption: {every: 168h}\n", "x.yaml:8: cameras[0].caption.every: 168h0m0s is outside [10ms, 24h0m0s]"},
		{"questions every 5ms", strings.Replace(base, "  clip:", "  blip_vqa: "+dir+"\n  clip:", 1) + "    questions: {every: 5ms, ask: ['why?']}\n", "cameras[0].questions.every: 5ms is outside"},
		{"queue of 2^63", base + "mqtt: {queue_size: 9223372036854775807}\n", "x.yaml:7: mqtt.queue_size: 9223372036854775807 is more than 100000"},
		{"ask bytes", base + "mqtt: {max_ask_bytes: 1000000000}\n", "mqtt.max_ask_bytes: 1000000000 is outside [0, 65536]"},
		{"read timeout", strings.Replace(base, "{kind: synthetic}", "{kind: stream, url: 'rtsp://h/s', read_timeout: 1000h}", 1), "x.yaml:6: cameras[0].source.read_timeout: 1000h0m0s is more than 1h0m0s"},
		{"motion skip", base + "    motion: {enabled: true, max_skip: 1000h}\n", "cameras[0].motion.max_skip: 1000h0m0s is outside [0, 24h0m0s]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(c.src), "x.yaml")
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want a ConfigError containing %q", err, c.want)
			}
		})
	}
	// At the bounds, accepted.
	ok := base + "    labels: {sets: [" + labels + "], every: 10ms}\nruntime: {workers: 64, threads: 64}\nmqtt: {queue_size: 100000, max_ask_bytes: 65536}\n"
	if _, err := ParseConfig([]byte(ok), "x.yaml"); err != nil {
		t.Errorf("values at the bounds: %v", err)
	}
}

// The cameras' label sets together hold at most MaxTotalLabels labels; the set that goes past
// is named with the config's line.
func TestTotalLabels(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("name: big\nlabels:\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "  - thing %d\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "big.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	config := func(cameras int) string {
		var c strings.Builder
		fmt.Fprintf(&c, "device: d\nmodels: {clip: %s}\ncameras:\n", dir)
		for i := range cameras {
			fmt.Fprintf(&c, "  - name: c%d\n    source: {kind: synthetic}\n    labels: {sets: [big.yaml], every: 1s}\n", i)
		}
		path := filepath.Join(dir, "edged.yaml")
		if err := os.WriteFile(path, []byte(c.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	if _, err := loadState(config(4)); err != nil {
		t.Fatalf("4 cameras of 1000 labels: %v", err)
	}
	_, err := loadState(config(5))
	want := fmt.Sprintf("edged.yaml:18: cameras[4].labels.sets[0]: %s brings the cameras' label sets to 5000 labels, more than 4000 in all", filepath.Join(dir, "big.yaml"))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("5 cameras of 1000 labels: %v, want %q", err, want)
	}
}
