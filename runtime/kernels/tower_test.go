package kernels_test

import (
	"math/rand/v2"
	"os"
	"testing"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/models"
	"github.com/edged/edged/runtime/kernels"
	"github.com/edged/edged/runtime/tflite"
)

// The architectures convert knows come from the packages that register them.
var _, _ = clip.Architecture, blip.ArchCaption

// runFloat runs the model file at path on x and returns its first (float) output.
func runFloat(t *testing.T, path string, opts tflite.Options, x []float32) ([]float32, tflite.Delegation) {
	t.Helper()
	m, err := tflite.LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	out, d := invoke(t, m, opts, nil, x)
	return out[0].([]float32), d
}

// TestShapesTowersEqualTFLite: the full-int8 vision towers of the shapes CLIP and BLIP, as the
// converter writes them, give the same embedding to the last bit with every FULLY_CONNECTED
// (and patch embedding) and attention's BATCH_MATMUL, and with -bmm without the latter, on each
// kernel as on TFLite's own kernels (everything else on TFLite's kernels in both).
func TestShapesTowersEqualTFLite(t *testing.T) {
	if testing.Short() {
		t.Skip("converts two checkpoints")
	}
	for _, c := range []struct{ checkpoint, role string }{
		{"../../models/shapes/clip", "vision"},
		{"../../models/shapes/blip_caption", "vision"},
	} {
		dir, err := os.MkdirTemp("", "edged-kernels-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		b, err := models.Convert(c.checkpoint, dir, convert.Options{Precision: graph.Int8Full})
		if err != nil {
			t.Fatal(err)
		}
		path, err := b.Path(c.role)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := b.Manifest.File(c.role)
		size := 1
		for _, d := range f.Inputs[0].Shape {
			size *= d
		}
		r := rand.New(rand.NewPCG(19, 5))
		x := make([]float32, size)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		want, _ := runFloat(t, path, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Off}, x)
		var modes []string
		for _, k := range kernels.Available() {
			modes = append(modes, k, k+kernels.NoBatchMatMulSuffix)
		}
		for _, k := range modes {
			got, d := runFloat(t, path, tflite.Options{Delegate: tflite.DelegateNone, Threads: 2, Kernels: k}, x)
			if d.KernelNodes == 0 {
				t.Fatalf("%s %s: the kernels took nothing: %v", c.checkpoint, k, d)
			}
			same := len(got) == len(want)
			for i := 0; same && i < len(got); i++ {
				same = got[i] == want[i]
			}
			if !same {
				t.Errorf("%s %s on %s: embedding differs from TFLite's (%v)", c.checkpoint, c.role, k, d)
			} else {
				t.Logf("%s %s on %s: identical (%v)", c.checkpoint, c.role, k, d)
			}
		}
	}
}
