package kernels_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/runtime/kernels"
	"github.com/edged/edged/runtime/tflite"
)

// TestResidualAddEqualsTFLite: a transformer layer's residual connection, a claimed
// FULLY_CONNECTED's output dequantized and added to the float residual stream, on each kernel:
// the DEQUANTIZE and the ADD are taken with the FULLY_CONNECTED into one partition (amd64; on
// arm64 the DEQUANTIZE stays with TFLite, and the ADD with it) and the sums are TFLite's bit for
// bit. An ADD of the graph's inputs alone, and one that broadcasts, are left to TFLite.
func TestResidualAddEqualsTFLite(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 43))
	for _, rows := range []int{1, 7, 50} {
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
		want, _ := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Off}, nil, in, resid)
		for _, kern := range kernels.Available() {
			name := fmt.Sprintf("%s, %d rows", kern, rows)
			got, d := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 2, Kernels: kern}, nil, in, resid)
			if want := map[bool]int{true: 3, false: 1}[runtime.GOARCH == "amd64"]; d.KernelNodes != want || d.KernelPartitions != 1 {
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
