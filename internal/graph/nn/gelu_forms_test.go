package nn

import (
	"math"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/runtime/tflite"
)

// geluForm is one way of writing exact (erf) GELU from operators XNNPACK takes, measured
// against TFLite's GELU kernel in BenchmarkBlocks/gelu (the kernel is faster: nn.GELU uses it).
type geluForm struct {
	name  string
	build func(g *graph.Graph, name string, x *graph.Tensor) *graph.Tensor
}

var geluForms = []geluForm{
	{"erfc_as", geluErfcAS},
}

// geluErfcAS is GELU(x) = relu(x) - ½|x|·erfc(|x|/√2), with erfc from Abramowitz & Stegun
// 7.1.26 (|error| ≤ 1.5e-7): erfc(u) ≈ t·(a1 + t·(a2 + t·(a3 + t·(a4 + t·a5))))·e^(-u²),
// t = 1/(1 + p·u), and e^(-x²/2) as ELU(-x²/2) + 1 (XNNPACK 2.9 has ELU, not EXP).
func geluErfcAS(g *graph.Graph, name string, x *graph.Tensor) *graph.Tensor {
	const p = 0.3275911
	a := [...]float64{0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429}
	n := func(s string) graph.Option { return graph.Named(name + "/" + s) }
	c := func(s string, v float64) *graph.Tensor { return g.Scalar(name+"/"+s, float32(v)) }
	abs := g.Abs(x, n("abs"))
	t := g.Div(c("one", 1), g.Add(g.Mul(abs, c("p", p/math.Sqrt2), n("pu")), c("one_b", 1), n("pu1")), n("t"))
	// ½ of the polynomial, by Horner.
	h := g.Mul(t, c("a5", a[4]/2), n("h5"))
	for i := 3; i >= 0; i-- {
		h = g.Mul(g.Add(h, c("a"+string(rune('1'+i)), a[i]/2), n("h"+string(rune('1'+i)))), t, n("ht"+string(rune('1'+i))))
	}
	e := g.Add(g.Elu(g.Mul(g.Mul(x, x, n("x2")), c("minus_half", -0.5), n("mx2")), n("elu")), c("one_c", 1), n("exp"))
	tail := g.Mul(g.Mul(h, e, n("half_erfc")), abs, n("tail"))
	return g.Sub(g.Relu(x, n("relu")), tail, graph.Named(name))
}

// TestGELUForms checks the XNNPACK-only GELU forms against math.Erf, so that
// BenchmarkBlocks/gelu compares like with like.
func TestGELUForms(t *testing.T) {
	const n = 4096
	x := make([]float32, n)
	for i := range x {
		x[i] = -10 + 20*float32(i)/n
	}
	for _, f := range geluForms {
		g := graph.New("gelu")
		in := g.Input("x", graph.Float32, n)
		g.Output("y", f.build(g, "act", in))
		data, err := g.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []tflite.DelegateKind{tflite.DelegateNone, tflite.DelegateXNNPack} {
			got := testutil.Run(t, data, tflite.Options{Threads: 1, Delegate: d}, x)
			for i, v := range x {
				want := 0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2))
				// A&S 7.1.26 is within 1.5e-7 of erf; float32 rounding adds a few ulps of |x|.
				if diff := math.Abs(float64(got[i]) - want); diff > 2e-6*(1+math.Abs(float64(v))) {
					t.Fatalf("%s (%s): GELU(%v) = %v, want %v", f.name, d, v, got[i], want)
				}
			}
		}
	}
}
