package build

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged/edged/internal/daemon"
)

// Every shipped config (the default run and the device profiles) passes the daemon's validation
// as it is in the repository, and the profiles say what they promise.
func TestShippedConfigsValid(t *testing.T) {
	files, err := filepath.Glob("../configs/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		delegate, precision string
		threads             int
	}{
		"pi5.yaml":    {"xnnpack", "int8", 2},
		"pi4.yaml":    {"xnnpack", "int8", 2},
		"jetson.yaml": {"gpu", "fp16", 4},
	}
	seen := 0
	for _, f := range files {
		c, err := daemon.LoadConfig(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		w, ok := want[filepath.Base(f)]
		if !ok {
			continue
		}
		seen++
		if c.Runtime.Delegate != w.delegate || c.Runtime.Precision != w.precision || c.Runtime.Threads != w.threads {
			t.Errorf("%s: runtime %+v, want delegate %s, precision %s, threads %d", f, c.Runtime, w.delegate, w.precision, w.threads)
		}
		if c.Runtime.Threads*c.Runtime.Workers > 8 {
			t.Errorf("%s: %d workers × %d threads oversubscribe the device", f, c.Runtime.Workers, c.Runtime.Threads)
		}
		if len(c.Cameras) == 0 || c.Cameras[0].Source.Kind != "device" || !strings.HasPrefix(c.Cameras[0].Source.Device, "/dev/video") {
			t.Errorf("%s: the first camera should be a V4L2 device: %+v", f, c.Cameras)
		}
	}
	if seen != len(want) {
		t.Errorf("found %d of the %d device profiles in ../configs", seen, len(want))
	}
}
