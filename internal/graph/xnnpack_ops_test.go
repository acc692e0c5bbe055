package graph_test

import (
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/runtime/tflite"
)

// TestXNNPackTakes pins which operators the XNNPACK delegate of the shipped TFLite 2.9 takes,
// in float32 and (with Options.XNNPackQS8) in int8 at Int8Full: each operator it refuses runs
// on TFLite's kernels and splits the delegated graph. Package nn is written from this table.
// int8 "-" marks operators Int8Full leaves in float (no int8 kernel in edged's lowering).
func TestXNNPackTakes(t *testing.T) {
	type op func(g *graph.Graph, x *graph.Tensor) *graph.Tensor
	for _, tc := range []struct {
		name        string
		build       op
		fp32, int8  bool
		int8Lowered bool
	}{
		{"ADD", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Add(x, x) }, true, true, true},
		{"SUB", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Sub(x, g.Scalar("c", 0.5)) }, true, true, true},
		{"MUL", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Mul(x, x) }, true, true, true},
		{"DIV", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Div(x, g.Scalar("c", 0.5)) }, true, false, false},
		{"SQUARED_DIFFERENCE", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.SquaredDifference(x, g.Scalar("c", 0.5)) }, true, false, true},
		{"SQRT", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Sqrt(x) }, true, false, false},
		{"RSQRT", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Rsqrt(x) }, false, false, true},
		{"ABS", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Abs(x) }, true, false, false},
		{"RELU", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Relu(x) }, true, false, false},
		{"ELU", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Elu(x) }, true, false, false},
		{"LOGISTIC", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Logistic(x) }, true, true, true},
		{"TANH", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Tanh(x) }, false, false, true},
		{"GELU", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Gelu(x, false) }, false, false, true},
		{"SOFTMAX", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Softmax(x) }, true, false, true},
		{"SOFTMAX beta 0.125", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Softmax(x, graph.Beta(0.125)) }, false, false, true},
		{"MEAN last axis", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Mean(x, []int{-1}, true) }, false, false, true},
		{"MEAN 4-D axes 1,2", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor {
			return g.Mean(g.Reshape(x, []int{6, 1, 8, 1}), []int{1, 2}, true)
		}, true, false, true},
		{"FULLY_CONNECTED", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor {
			return g.FullyConnected(x, g.Const("w", testutil.Randn(1, 4*8, 1), 4, 8), g.Const("b", testutil.Randn(2, 4, 1), 4))
		}, true, true, true},
		{"RESHAPE", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Reshape(x, []int{6, 8}) }, true, false, true},
		{"TRANSPOSE", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Transpose(x, []int{0, 2, 1}) }, false, false, true},
		{"BATCH_MATMUL", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.BatchMatMul(x, x, false, true) }, false, false, true},
		{"CONCATENATION", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Concat([]*graph.Tensor{x, x}, -1) }, false, false, true},
		{"STRIDED_SLICE", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor {
			return g.StridedSlice(x, []int{0, 0, 0}, []int{1, 6, 4}, []int{1, 1, 1}, graph.SliceMasks{})
		}, false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New("op")
			x := g.Input("x", graph.Float32, 1, 6, 8)
			g.Output("y", tc.build(g, x))
			in := []any{uniform(3, 48, 0.1, 2)} // positive, for SQRT and RSQRT
			model, err := g.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			xnn := config{"xnnpack", tflite.Options{Threads: 1, Delegate: tflite.DelegateXNNPack}}
			run(t, model, xnn, in...)
			d := delegation[t.Name()+" xnnpack"]
			if got := d.Full(); got != tc.fp32 {
				t.Errorf("float32: %v, want taken = %v", d, tc.fp32)
			}
			q8, err := g.MarshalWith(graph.LowerOptions{Precision: graph.Int8Full, Ranges: calibrate(t, g, in)})
			if err != nil {
				t.Fatal(err)
			}
			// XNNPACK alone: edged's kernels (runtime/kernels) would take the int8 matrix products
			// first, and runtime keeps the DEQUANTIZE of activations from XNNPACK unless asked.
			qs8 := config{"xnnpack-qs8", tflite.Options{Threads: 1, Delegate: tflite.DelegateXNNPack, XNNPackQS8: true,
				XNNPackDequantize: true, Kernels: "off"}}
			run(t, q8, qs8, in...)
			d8 := delegation[t.Name()+" xnnpack-qs8"]
			// Int8Full wraps an int8 operator in QUANTIZE and DEQUANTIZE, which XNNPACK takes.
			if tc.int8Lowered && d8.Full() != tc.int8 {
				t.Errorf("int8: %v, want taken = %v", d8, tc.int8)
			}
			if !tc.int8Lowered && d8.Full() != tc.fp32 {
				t.Errorf("left float at Int8Full: %v, want taken = %v", d8, tc.fp32)
			}
		})
	}
}
