package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		out := make([]time.Duration, len(xs))
		for i, x := range xs {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	for _, tc := range []struct {
		sorted   []time.Duration
		p        float64
		wantMs   int
		describe string
	}{
		{ms(1, 2, 3, 4, 5), 50, 3, "median of 5 is the 3rd"},
		{ms(1, 2, 3, 4, 5), 90, 5, "p90 of 5 is the 5th"},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 50, 5, "p50 of 10 is the 5th"},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9, "p90 of 10 is the 9th"},
		{ms(7), 90, 7, "single value"},
		{ms(1, 2), 0, 1, "p0 clamps to the first"},
	} {
		if got := Percentile(tc.sorted, tc.p); got != time.Duration(tc.wantMs)*time.Millisecond {
			t.Errorf("%s: got %v", tc.describe, got)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("empty input should give 0")
	}
}

func TestSummarize(t *testing.T) {
	s, err := Summarize([]time.Duration{5, 1, 4, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Runs: 5, P50: 3, P90: 5, Min: 1, Max: 5, Mean: 3}
	if s != want {
		t.Errorf("got %+v, want %+v", s, want)
	}
	if _, err := Summarize(nil); err == nil {
		t.Error("no runs should be an error")
	}
}

func TestMeasureCountsRuns(t *testing.T) {
	for _, tc := range []struct {
		opts                Options
		wantCalls, wantRuns int
	}{
		{Options{Warmup: 2, Runs: 5}, 7, 5},
		{Options{}, 11, 10}, // defaults: 1 warm-up, 10 runs
		{Options{Warmup: -1, Runs: 3}, 3, 3},
	} {
		calls := 0
		s, err := Measure(tc.opts, func() error { calls++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if calls != tc.wantCalls || s.Runs != tc.wantRuns {
			t.Errorf("%+v: %d calls, %d runs; want %d, %d", tc.opts, calls, s.Runs, tc.wantCalls, tc.wantRuns)
		}
	}
}

func TestMeasureMaxTimeStopsEarly(t *testing.T) {
	s, err := Measure(Options{Warmup: -1, Runs: 1000, MaxTime: time.Millisecond}, func() error {
		time.Sleep(200 * time.Microsecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Runs < 3 || s.Runs >= 1000 {
		t.Errorf("%d runs, want at least 3 and far fewer than 1000", s.Runs)
	}
}

func TestMeasureError(t *testing.T) {
	boom := errors.New("boom")
	n := 0
	_, err := Measure(Options{Warmup: 1, Runs: 5}, func() error {
		n++
		if n == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "run 2") {
		t.Errorf("got %v, want boom in run 2", err)
	}
	if _, err := Measure(Options{}, func() error { return boom }); err == nil || !strings.Contains(err.Error(), "warm-up") {
		t.Errorf("got %v, want a warm-up error", err)
	}
}

// The JSON contract that scripts reading edged bench --json rely on: a timing record has
// exactly these eight fields.
func TestRecordJSONFields(t *testing.T) {
	var buf bytes.Buffer
	w := NewJSONWriter(&buf)
	r := Record{Stage: "clip.image_embed", Model: "m", Precision: "int8", Delegate: "xnnpack+qs8", Threads: 2}
	r.SetStats(Stats{Runs: 20, P50: 14200 * time.Microsecond, P90: 15012345 * time.Nanosecond})
	if err := w.Write(r); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"stage": "clip.image_embed", "model": "m", "precision": "int8", "delegate": "xnnpack+qs8",
		"threads": 2.0, "p50_ms": 14.2, "p90_ms": 15.012, "runs": 20.0}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("want one line, got %q", buf.String())
	}
	buf.Reset()
	r.Position = 10
	w.Write(r)
	if !strings.Contains(buf.String(), `"position":10`) {
		t.Errorf("optional field missing: %s", buf.String())
	}
}

func TestTableWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewTableWriter(&buf)
	w.Write(Record{Stage: "blip.decode_token", Model: "m", Precision: "int8", Delegate: "none", Threads: 1, P50Ms: 1.5, P90Ms: 2, Runs: 3, Position: 10})
	w.Write(Record{Stage: "model.file_size", Model: "m", Precision: "int8", FileBytes: 3 << 20})
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "stage") {
		t.Fatalf("got %q", buf.String())
	}
	if !strings.Contains(lines[1], "1.500") || !strings.Contains(lines[1], "position 10") {
		t.Errorf("timing row: %q", lines[1])
	}
	if !strings.Contains(lines[2], "file 3.0 MiB") || !strings.Contains(lines[2], " - ") {
		t.Errorf("size row: %q", lines[2])
	}
}

func TestParseStatus(t *testing.T) {
	status := []byte("Name:\tedged\nVmPeak:\t  123 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n")
	if n, err := parseStatus(status, "VmHWM"); err != nil || n != 2048*1024 {
		t.Errorf("VmHWM: %d, %v", n, err)
	}
	if _, err := parseStatus(status, "VmSwap"); err == nil {
		t.Error("missing key should be an error")
	}
	if _, err := parseStatus([]byte("VmHWM: 12 MB\n"), "VmHWM"); err == nil {
		t.Error("unexpected unit should be an error")
	}
}

func TestPeakRSSOnThisMachine(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	before, err := PeakRSS()
	if err != nil || before <= 0 {
		t.Fatalf("PeakRSS: %d, %v", before, err)
	}
	if err := ResetPeakRSS(); err != nil {
		t.Skipf("cannot reset the peak here: %v", err)
	}
	rss, _ := RSS()
	after, _ := PeakRSS()
	if after < rss || after > before+4<<20 {
		t.Errorf("after reset the peak %d should be at least the current RSS %d and near the old peak %d or below", after, rss, before)
	}
}

func TestModelSizes(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "vision.tflite"), make([]byte, 10), 0o644)
	os.WriteFile(filepath.Join(dir, "sub", "text.tflite"), make([]byte, 7), 0o644)
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte("{}"), 0o644)
	got, err := ModelSizes(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []FileSize{{filepath.Join("sub", "text.tflite"), 7}, {"vision.tflite", 10}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := ModelSizes(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing folder should be an error")
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{512: "512 B", 2048: "2.0 KiB", 88 << 20: "88.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("%d: got %q, want %q", n, got, want)
		}
	}
}

func TestParseList(t *testing.T) {
	got, err := ParseList("xnnpack, none,xnnpack", Delegates)
	if err != nil || !reflect.DeepEqual(got, []string{"xnnpack", "none"}) {
		t.Errorf("got %v, %v", got, err)
	}
	if got, _ := ParseList("all", Delegates); !reflect.DeepEqual(got, Delegates) {
		t.Errorf("all: %v", got)
	}
	if _, err := ParseList("gpu", Delegates); err == nil || !strings.Contains(err.Error(), `"gpu"`) {
		t.Errorf("unknown value: %v", err)
	}
	if _, err := ParseList(" , ", nil); err == nil {
		t.Error("empty list should be an error")
	}
}

func TestRuntimeOptionsRoundTrip(t *testing.T) {
	for _, d := range Delegates {
		o, err := RuntimeOptions(d, 2)
		if err != nil {
			t.Fatal(err)
		}
		if got := DelegateName(o); got != d || o.Threads != 2 {
			t.Errorf("%s: got %s, %d threads", d, got, o.Threads)
		}
	}
	if _, err := RuntimeOptions("tpu", 1); err == nil {
		t.Error("unknown delegate should be an error")
	}
	// With edged's kernels: the name carries the kernel and whether it takes BATCH_MATMUL (the
	// default, +bmm, or -bmm); without one they are off.
	for _, c := range []struct{ delegate, mode, name, kernels string }{
		{DelegateXNNPackQS8, "generic", "xnnpack+qs8+generic+bmm", "generic+bmm"},
		{DelegateXNNPackQS8, "generic+bmm", "xnnpack+qs8+generic+bmm", "generic+bmm"},
		{DelegateXNNPackQS8, "Generic-BMM", "xnnpack+qs8+generic-bmm", "generic-bmm"},
		{DelegateNone, "generic", "none+generic+bmm", "generic+bmm"},
		{DelegateNone, "generic-bmm", "none+generic-bmm", "generic-bmm"},
		{DelegateNone, "auto", "none", "off"},
		{DelegateNone, "auto-bmm", "none", "off"},
		{DelegateXNNPack, "off", "xnnpack", "off"},
	} {
		name, err := WithKernels(c.delegate, c.mode)
		if err != nil {
			t.Fatal(err)
		}
		o, err := RuntimeOptions(name, 1)
		if err != nil {
			t.Fatal(err)
		}
		if name != c.name || o.Kernels != c.kernels || DelegateName(o) != c.name {
			t.Errorf("%s with %s: name %q (want %q), kernels %q (want %q), back %q", c.delegate, c.mode, name, c.name, o.Kernels, c.kernels, DelegateName(o))
		}
	}
	for _, mode := range []string{"avx9000", "generic+foo", "generic-bmm+bmm", "off-bmm"} {
		if _, err := WithKernels(DelegateXNNPack, mode); err == nil {
			t.Errorf("%s: no error", mode)
		}
	}
	// A name without the suffix (results from before BATCH_MATMUL was the default) still runs.
	if o, err := RuntimeOptions("xnnpack+qs8+generic", 1); err != nil || o.Kernels != "generic" {
		t.Errorf("xnnpack+qs8+generic: %+v, %v", o, err)
	}
}

func TestInterleave(t *testing.T) {
	var order []int
	fns := []func() error{
		func() error { order = append(order, 0); return nil },
		func() error { order = append(order, 1); return nil },
	}
	s, err := Interleave(Options{Warmup: 1, Runs: 3}, fns)
	if err != nil {
		t.Fatal(err)
	}
	want := []int{0, 1, 0, 1, 0, 1, 0, 1} // warm-ups, then alternating runs
	if !reflect.DeepEqual(order, want) || len(s) != 2 || s[0].Runs != 3 || s[1].Runs != 3 {
		t.Errorf("order %v, stats %+v", order, s)
	}
	boom := errors.New("boom")
	if _, err := Interleave(Options{Warmup: -1, Runs: 2}, []func() error{func() error { return boom }}); !errors.Is(err, boom) {
		t.Errorf("got %v", err)
	}
}
