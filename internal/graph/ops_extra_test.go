package graph_test

import (
	"math"
	"testing"

	"github.com/edged/edged/internal/graph"
)

// TestExtraElementwiseOps checks SQRT, ABS, RELU and ELU against float64 maths under TFLite's
// kernels and XNNPACK, and that Int8Full leaves them in float32 (same results).
func TestExtraElementwiseOps(t *testing.T) {
	mixed := uniform(700, 96, -6, 6)
	positive := uniform(701, 96, 1e-4, 50)
	for _, tc := range []struct {
		name string
		x    []float32
		op   func(g *graph.Graph, x *graph.Tensor) *graph.Tensor
		ref  func(float64) float64
		tol  float64
	}{
		{"SQRT", positive, func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Sqrt(x) }, math.Sqrt, tolArith},
		{"ABS", mixed, func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Abs(x) }, math.Abs, 0},
		{"RELU", mixed, func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Relu(x) }, func(v float64) float64 { return math.Max(v, 0) }, 0},
		{"ELU", mixed, func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Elu(x) }, func(v float64) float64 {
			if v < 0 {
				return math.Expm1(v)
			}
			return v
		}, tolTrans},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New("op")
			in := g.Input("x", graph.Float32, 2, 48)
			g.Output("y", tc.op(g, in))
			want := refUnary(tc.x, tc.ref)
			model, err := g.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range delegates {
				closeTo(t, d.name, run(t, model, d, tc.x)[0].([]float32), want, tc.tol, tc.tol)
			}
			q8, err := g.MarshalWith(graph.LowerOptions{Precision: graph.Int8Full, Ranges: calibrate(t, g, []any{tc.x})})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range int8Delegates {
				closeTo(t, "int8 "+d.name, run(t, q8, d, tc.x)[0].([]float32), want, tc.tol, tc.tol)
			}
		})
	}
}
