package kernels_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/runtime/kernels"
	"github.com/edged/edged/runtime/tflite"
)

// TestDequantizeEqualsTFLite: DEQUANTIZE of a computed int8 tensor (here a TRANSPOSE's
// output, as attention's scores come from a BATCH_MATMUL) to float32, on random shapes (one
// above the size split over the pool), scales from 1e-6 to 1e3 and zero points at the
// extremes, on each kernel: the same floats as TFLite's own DEQUANTIZE bit for bit. On amd64
// both are taken, the DEQUANTIZE of the input itself and the one after the claimed TRANSPOSE
// (its int8 input inside the partition); on arm64 (whose TFLite kernel is NEON already)
// neither.
func TestDequantizeEqualsTFLite(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 23))
	shapes := [][]int{{1, 12, 50, 50}, {3, 7}, {150001}, {2, 1, 5}}
	for range 20 {
		shapes = append(shapes, []int{1 + r.IntN(40), 1 + r.IntN(40)})
	}
	for i, shape := range shapes {
		n := 1
		for _, d := range shape {
			n *= d
		}
		scale := float32(math.Pow(10, -6+9*r.Float64()))
		zp := []int64{-128, 127, 0, int64(r.IntN(256) - 128)}[i%4]
		g := graph.New("dequantize")
		x := g.QuantizedInput("x", graph.Int8, graph.PerTensor(scale, zp), shape...)
		g.Output("y", g.Dequantize(x, graph.Named("y")))
		perm := make([]int, len(shape))
		for j := range perm {
			perm[j] = len(shape) - 1 - j
		}
		g.Output("z", g.Dequantize(g.Transpose(x, perm, graph.Named("xt")), graph.Named("z")))
		model, err := g.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		in := randInt8(r, n)
		want, _ := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Off}, nil, in)
		for _, kern := range kernels.Available() {
			name := fmt.Sprintf("%s %v scale %g zero point %d", kern, shape, scale, zp)
			got, d := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 2, Kernels: kern}, nil, in)
			if want := map[bool]int{true: 3, false: 1}[runtime.GOARCH == "amd64"]; d.KernelNodes != want {
				t.Errorf("%s: %v, want %d operators taken (the TRANSPOSE, on amd64 both DEQUANTIZE)", name, d, want)
			}
			for o := range want {
				if diff := firstDiff(got[o].([]float32), want[o].([]float32)); diff != "" {
					t.Errorf("%s, output %d: %s", name, o, diff)
				}
			}
		}
	}
}
