// Package tflitetest builds the test delegates of runtime/tflite's testdata, for the tests of
// every package that runs models through a delegate loaded at run time.
package tflitetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/edged/edged/runtime/tflite"
)

// Plugin is the source of the external delegate plugin (an XNNPACK delegate behind TFLite's
// external delegate interface; it takes the options num_threads and qs8, and refuses any
// other).
const Plugin = "test_delegate_plugin.c"

// BuildLibrary compiles runtime/tflite/testdata/<src> into a shared library called name in a
// test's temporary folder, linked against the TFLite C library, with the C compiler cgo used
// ($CC, else cc), and returns its path.
func BuildLibrary(t testing.TB, src, name string) string {
	t.Helper()
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("tflitetest: cannot find its own source folder")
	}
	tfl := filepath.Dir(filepath.Dir(here)) // runtime/tflite
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Fatalf("no C compiler to build the test delegate (%v); cgo needs one too, set CC", err)
	}
	libDir := filepath.Dir(tflite.LibraryPath())
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(cc, "-shared", "-fPIC", "-O1", "-Wall", "-Werror",
		"-I", filepath.Join(tfl, "..", "..", "third_party", "tflite", "include"),
		"-o", out, filepath.Join(tfl, "testdata", src),
		"-L", libDir, "-ltensorflowlite_c", "-Wl,-rpath,"+libDir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, b)
	}
	return out
}
