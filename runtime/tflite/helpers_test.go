package tflite_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/edged/edged/runtime/tflite"
)

// TestMain fails the run if any native handle outlives the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if h := tflite.LiveHandles(); code == 0 && h.Total() != 0 {
		fmt.Fprintf(os.Stderr, "runtime: native handles leaked by the tests: %s\n", h)
		code = 1
	}
	os.Exit(code)
}

// noLeaks registers, first, a cleanup that runs after the test's other cleanups and checks
// that every native handle was freed.
func noLeaks(t *testing.T) {
	t.Helper()
	if h := tflite.LiveHandles(); h.Total() != 0 {
		t.Fatalf("native handles open before the test: %s", h)
	}
	t.Cleanup(func() {
		if h := tflite.LiveHandles(); h.Total() != 0 {
			t.Errorf("native handles still open after the test: %s", h)
		}
	})
}

// newInterpreter loads data and creates an interpreter, both closed when the test ends.
func newInterpreter(t testing.TB, data []byte, opts tflite.Options) *tflite.Interpreter {
	t.Helper()
	m, err := tflite.NewModel(data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ip, err := tflite.NewInterpreter(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ip.Close() })
	return ip
}

// cpuConfigs are the CPU set-ups every numeric test runs under.
var cpuConfigs = []struct {
	name string
	opts tflite.Options
}{
	{"none", tflite.Options{Delegate: tflite.DelegateNone, Threads: 1}},
	{"xnnpack-1thread", tflite.Options{Delegate: tflite.DelegateXNNPack, Threads: 1}},
	{"xnnpack-2threads", tflite.Options{Threads: 2}}, // the default delegate
}

func randFloats(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// wantErr fails unless err is non-nil and its text contains every part.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}
