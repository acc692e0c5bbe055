package progress

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Off a terminal a step is logged when it starts, every Options.Every while it runs (by the
// reporter's clock) and once when it ends.
func TestLogLines(t *testing.T) {
	var logs bytes.Buffer
	p := New(&logs, slog.New(slog.NewTextHandler(&logs, nil)), Options{Prefix: "pull: ", Unit: Bytes, Every: 10 * time.Second}).(*logLines)
	clock := time.Unix(0, 0)
	p.now = func() time.Time { return clock }
	total := 100 << 20
	for done := 0; done <= total; done += 1 << 20 {
		p.Step("model.safetensors", done, total)
		clock = clock.Add(time.Second) // 100 s in all: a line every 10 s
	}
	p.Step("model.safetensors", total, total) // an ended step is not logged again
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 11 {
		t.Fatalf("%d lines, want start + 9 periodic + end:\n%s", len(lines), logs.String())
	}
	if !strings.Contains(lines[0], `msg="pull: model.safetensors" total="100.0 MiB"`) {
		t.Errorf("start line %q", lines[0])
	}
	if !strings.Contains(lines[1], `done="10.0 MiB"`) || !strings.Contains(lines[1], "percent=10") {
		t.Errorf("first periodic line %q", lines[1])
	}
	if !strings.Contains(lines[10], `msg="pull: model.safetensors done" seconds=100.0`) {
		t.Errorf("end line %q", lines[10])
	}
	// The same step run again (the next repository's config.json, a second conversion) is
	// logged again.
	logs.Reset()
	p.Step("model.safetensors", 0, 10)
	p.Step("model.safetensors", 10, 10)
	if n := strings.Count(logs.String(), "\n"); n != 2 {
		t.Errorf("a step run again got %d lines, want 2:\n%s", n, logs.String())
	}
}

func TestBar(t *testing.T) {
	var out bytes.Buffer
	b := &bar{w: &out, width: 10, unit: Count}
	b.Step("weights", 0, 4)
	b.Step("weights", 4, 4)
	if !strings.Contains(out.String(), "[==========] 4/4\n") {
		t.Errorf("bar drew %q", out.String())
	}
	out.Reset()
	b = &bar{w: &out, width: 10, unit: Bytes}
	b.Step("model.safetensors", 3<<20, 6<<20)
	if !strings.Contains(out.String(), "[=====     ] 3.0 MiB/6.0 MiB") {
		t.Errorf("bar drew %q", out.String())
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 605 << 20: "605.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
