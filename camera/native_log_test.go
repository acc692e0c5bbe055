package camera

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A GStreamer pipeline that does not parse makes OpenCV's backend log GLib CRITICALs and
// WARNINGs straight to stderr on every retry. They are silenced; edged's own line stays, once
// per outage. The camera runs in a child process (this test binary again), as GLib writes to
// file descriptor 2 itself: once with native logging on, which shows that the lines exist
// (without them, as with an OpenCV built without GStreamer, the test is skipped), once as
// edged runs by default, and once with GLib told to abort on warnings: a message that ends
// the process is still printed.
func TestGStreamerMessagesSilenced(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a camera in a child process")
	}
	child := func(mode string, env ...string) (stdout, stderr string, err error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestGStreamerMessagesChild$", "-test.count=1")
		cmd.Env = append(append(os.Environ(), "EDGED_GST_CHILD="+mode), env...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err = cmd.Run()
		return out.String(), errOut.String(), err
	}
	run := func(verbose bool) (log []map[string]any, stderr string) {
		t.Helper()
		mode := "quiet"
		if verbose {
			mode = "verbose"
		}
		stdout, stderr, err := child(mode)
		if err != nil {
			t.Fatalf("child (%s): %v\nstdout:\n%s\nstderr:\n%s", mode, err, stdout, stderr)
		}
		out := bytes.NewBufferString(stdout)
		for _, line := range strings.Split(out.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil {
				log = append(log, rec)
			}
		}
		return log, stderr
	}
	failed := func(log []map[string]any) int {
		n := 0
		for _, rec := range log {
			if rec["msg"] == "camera failed" {
				n++
			}
		}
		return n
	}

	verboseLog, verboseErr := run(true)
	criticals := strings.Count(verboseErr, "GStreamer-CRITICAL")
	if criticals == 0 {
		t.Skipf("OpenCV logged nothing of GStreamer's for a bad pipeline (built without GStreamer?); stderr: %q", verboseErr)
	}
	if n := failed(verboseLog); n != 1 {
		t.Errorf("native logging on: edged logged %d \"camera failed\" lines over three retries, want 1", n)
	}
	t.Logf("native logging on: %d GStreamer-CRITICAL lines over three retries", criticals)

	quietLog, quietErr := run(false)
	if strings.Contains(quietErr, "CRITICAL") || strings.Contains(quietErr, "WARNING") {
		t.Errorf("GStreamer's messages reached stderr:\n%s", quietErr)
	}
	if n := failed(quietLog); n != 1 {
		t.Errorf("edged logged %d \"camera failed\" lines over three retries, want 1:\n%v", n, quietLog)
	}

	_, fatalErr, err := child("quiet", "G_DEBUG=fatal-warnings")
	if err == nil || !strings.Contains(fatalErr, "GLib-GObject-WARNING") {
		t.Errorf("with G_DEBUG=fatal-warnings: %v, stderr %q; want the process ended by GLib and its reason printed", err, fatalErr)
	}
}

// TestGStreamerMessagesChild is TestGStreamerMessagesSilenced's child: a camera with a
// pipeline that does not parse, retried three times, logging JSON lines to stdout.
func TestGStreamerMessagesChild(t *testing.T) {
	mode := os.Getenv("EDGED_GST_CHILD")
	if mode == "" {
		t.Skip("run by TestGStreamerMessagesSilenced")
	}
	SetNativeLogging(mode == "verbose")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src, err := New(Spec{Name: "bad", Kind: KindGStreamer, Pipeline: "nosuchelement ! appsink", FPS: 5, ReadTimeout: time.Second},
		Options{Logger: slog.New(slog.NewJSONHandler(os.Stdout, nil)), Backoff: Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond},
			StateChanged: func(_ string, st Stats) {
				if st.Reconnects >= 3 && st.State == StateFailed {
					cancel()
				}
			}})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for f := range src.Frames() {
			f.Release()
		}
	}()
	if err := src.Run(ctx); err != nil && ctx.Err() == nil {
		t.Fatal(err)
	}
}
