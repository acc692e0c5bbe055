package kernels_test

import (
	"math/rand/v2"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/runtime/kernels"
	"github.com/edged/edged/runtime/tflite"
)

// TestReshapeInsidePartitions: attention's heads as the converter writes them, a
// FULLY_CONNECTED, RESHAPE to [1, -1, heads, 8], TRANSPOSE, RESHAPE back and a
// FULLY_CONNECTED, with one RESHAPE's output also a graph output and one RESHAPE of the graph
// input: the RESHAPEs of claimed operators' outputs are taken (inside the partition the
// output is the input's bytes, or a copy where TFLite reads it), the one of the input is left
// to TFLite, and every output is TFLite's own.
func TestReshapeInsidePartitions(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 41))
	const rows, k, heads = 6, 32, 4
	g := graph.New("reshape")
	x := g.QuantizedInput("x", graph.Int8, graph.PerTensor(0.05, -3), 1, rows, k)
	w1 := g.QuantizedConst("w1", randInt8(r, k*k), graph.PerTensor(0.01, 0), k, k)
	h := g.FullyConnected(x, w1, nil, graph.OutQuant(graph.PerTensor(0.3, 2)))
	split := g.Reshape(h, []int{1, -1, heads, k / heads})
	g.Output("split", split)
	moved := g.Transpose(split, []int{0, 2, 1, 3})
	merged := g.Reshape(g.Transpose(moved, []int{0, 2, 1, 3}), []int{1, rows, k})
	w2 := g.QuantizedConst("w2", randInt8(r, 8*k), graph.PerTensor(0.01, 0), 8, k)
	g.Output("y", g.FullyConnected(merged, w2, nil, graph.OutQuant(graph.PerTensor(0.2, -1))))
	g.Output("input_reshaped", g.Reshape(x, []int{rows, k}))
	model, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	in := randInt8(r, rows*k)
	want, _ := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Off}, nil, in)
	for _, kern := range kernels.Available() {
		got, d := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 2, Kernels: kern}, nil, in)
		// 2 FULLY_CONNECTED, 2 TRANSPOSE, 2 RESHAPE; not the input's RESHAPE.
		if d.KernelNodes != 6 || d.KernelPartitions != 1 {
			t.Errorf("%s: %v, want 6 operators in 1 partition", kern, d)
		}
		for i := range want {
			if diff := firstDiff(got[i].([]int8), want[i].([]int8)); diff != "" {
				t.Errorf("%s, output %d: %s", kern, i, diff)
			}
		}
	}
}
