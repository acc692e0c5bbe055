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

// TestResidualAddEqualsTFLite: a transformer layer's residual connection (with sums that
// overflow, which TFLite clamps to ±FLT_MAX), a claimed
// FULLY_CONNECTED's output dequantized and added to the float residual stream, and the same
// output plus a bias that broadcasts, on each kernel: the DEQUANTIZE and the ADDs are taken
// with the FULLY_CONNECTED into one partition (amd64; on arm64 the DEQUANTIZE stays with
// TFLite, and the ADDs with it) and the sums are TFLite's bit for bit; an ADD of the graph's
// inputs alone is left to TFLite. Then the input is resized to a batch of 3, which TFLite
// answers by applying the delegates again: the residual now broadcasts over the batch, and the
// same operators must be taken (a tensor one delegate wrote cannot move to another).
func TestResidualAddEqualsTFLite(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 43))
	for _, rows := range []int{1, 7, 50} {
		for _, batch := range []int{1, 3} {
			const k, n = 48, 40
			g := graph.New("residual")
			x := g.QuantizedInput("x", graph.Int8, graph.PerTensor(0.05, -3), 1, rows, k)
			res := g.Input("residual", graph.Float32, 1, rows, n)
			w := g.QuantizedConst("w", randInt8(r, n*k), graph.PerTensor(0.01, 0), n, k)
			h := g.Dequantize(g.FullyConnected(x, w, nil, graph.OutQuant(graph.PerTensor(0.3, 2))))
			g.Output("sum", g.Add(res, h))
			g.Output("inputs_only", g.Add(res, res))
			g.Output("broadcast", g.Add(h, g.Const("b", randFloats(r, n, 1), n)))
			model, err := g.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			in, resid := randInt8(r, rows*k), randFloats(r, rows*n, 3)
			// Sums TFLite clamps to ±FLT_MAX: an infinity, and values whose sums overflow.
			resid[0], resid[1], resid[2] = float32(math.Inf(1)), math.MaxFloat32, -math.MaxFloat32
			var shape []int
			if batch > 1 {
				shape = []int{batch, rows, k}
				in = randInt8(r, batch*rows*k)
			}
			want, _ := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Off}, shape, in, resid)
			for _, kern := range kernels.Available() {
				name := fmt.Sprintf("%s, batch %d, %d rows", kern, batch, rows)
				got, d := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 2, Kernels: kern}, shape, in, resid)
				if want := map[bool]int{true: 4, false: 1}[runtime.GOARCH == "amd64"]; d.KernelNodes != want || d.KernelPartitions != 1 {
					t.Errorf("%s: %v, want %d operators taken in 1 partition", name, d, want)
				}
				for o := range want {
					if diff := firstDiff(got[o].([]float32), want[o].([]float32)); diff != "" {
						t.Errorf("%s, output %d: %s", name, o, diff)
					}
				}
			}
		}
	}
}
