package graph_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/tfl"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/quant"
)

// opCase builds a one-op model, gives its inputs and the reference outputs. Tolerances are
// |got-want| <= atol + rtol·|want|; integer outputs are compared with maxIntDiff.
type opCase struct {
	name       string
	build      func(t *testing.T, g *graph.Graph) (inputs, want []any)
	atol, rtol float64
	maxIntDiff int
	// int8Tol is the Int8Full tolerance as a fraction of the output's range; 0 means 0.04.
	int8Tol float64
}

// Float tolerances: float32 kernels (TFLite's and XNNPACK's) reorder sums and use polynomial
// approximations of exp/tanh/erf; against float64 references the error stays below these.
const (
	tolArith = 1e-5 // one rounding per element
	tolDot   = 1e-4 // sums of up to a few hundred products
	tolTrans = 2e-5 // exp, tanh, erf, rsqrt approximations
)

func opCases() []opCase {
	return []opCase{
		{name: "FULLY_CONNECTED keep_num_dims", atol: tolDot, rtol: tolDot, build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			x, w, b := testutil.Randn(10, 2*3*16, 1), testutil.Randn(11, 8*16, 0.3), testutil.Randn(12, 8, 0.1)
			in := g.Input("x", graph.Float32, 2, 3, 16)
			y := g.FullyConnected(in, g.Const("w", w, 8, 16), g.Const("b", b, 8))
			mustShape(t, y, 2, 3, 8)
			g.Output("y", y)
			return []any{x}, []any{refLinear(x, 6, 16, w, 8, b)}
		}},
		{name: "FULLY_CONNECTED flattened, no bias, relu", atol: tolDot, rtol: tolDot, build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			x, w := testutil.Randn(13, 2*3*16, 1), testutil.Randn(14, 5*16, 0.3)
			in := g.Input("x", graph.Float32, 2, 3, 16)
			y := g.FullyConnected(in, g.Const("w", w, 5, 16), nil, graph.KeepNumDims(false), graph.Fused(tfl.ActRelu))
			mustShape(t, y, 6, 5)
			g.Output("y", y)
			return []any{x}, []any{refUnary(refLinear(x, 6, 16, w, 5, nil), func(v float64) float64 { return math.Max(v, 0) })}
		}},
		{name: "BATCH_MATMUL", atol: tolDot, rtol: tolDot, build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			x, y := testutil.Randn(20, 2*3*4*5, 1), testutil.Randn(21, 2*3*5*6, 1)
			a := g.Input("a", graph.Float32, 2, 3, 4, 5)
			b := g.Input("b", graph.Float32, 2, 3, 5, 6)
			g.Output("c", g.BatchMatMul(a, b, false, false))
			want, _ := refMatMul(x, []int{2, 3, 4, 5}, y, []int{2, 3, 5, 6}, false, false)
			return []any{x, y}, []any{want}
		}},
		{name: "BATCH_MATMUL adj_y broadcast", atol: tolDot, rtol: tolDot, build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			x, y := testutil.Randn(22, 2*3*4*5, 1), testutil.Randn(23, 1*3*6*5, 1)
			a := g.Input("a", graph.Float32, 2, 3, 4, 5)
			b := g.Input("b", graph.Float32, 1, 3, 6, 5)
			g.Output("c", g.BatchMatMul(a, b, false, true))
			want, _ := refMatMul(x, []int{2, 3, 4, 5}, y, []int{1, 3, 6, 5}, false, true)
			return []any{x, y}, []any{want}
		}},
		{name: "BATCH_MATMUL adj_x", atol: tolDot, rtol: tolDot, build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			x, y := testutil.Randn(24, 3*5*4, 1), testutil.Randn(25, 3*5*2, 1)
			a := g.Input("a", graph.Float32, 3, 5, 4)
			b := g.Input("b", graph.Float32, 3, 5, 2)
			g.Output("c", g.BatchMatMul(a, b, true, false))
			want, _ := refMatMul(x, []int{3, 5, 4}, y, []int{3, 5, 2}, true, false)
			return []any{x, y}, []any{want}
		}},
		{name: "CONV_2D patch embedding (VALID, stride = kernel)", atol: tolDot, rtol: tolDot, build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			x, f := testutil.Randn(30, 1*8*8*3, 1), testutil.Randn(31, 4*4*4*3, 0.2)
			in := g.Input("x", graph.Float32, 1, 8, 8, 3)
			y := g.Conv2D(in, g.Const("f", f, 4, 4, 4, 3), nil, graph.Conv2DParams{StrideH: 4, StrideW: 4, Padding: tfl.PaddingValid})
			mustShape(t, y, 1, 2, 2, 4)
			g.Output("y", y)
			want, _ := refConv2D(x, []int{1, 8, 8, 3}, f, []int{4, 4, 4, 3}, make([]float32, 4), 4, false)
			return []any{x}, []any{want}
		}},
		{name: "CONV_2D SAME stride 2 with bias", atol: tolDot, rtol: tolDot, build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			x, f, b := testutil.Randn(32, 2*7*7*2, 1), testutil.Randn(33, 3*3*3*2, 0.3), testutil.Randn(34, 3, 0.1)
			in := g.Input("x", graph.Float32, 2, 7, 7, 2)
			y := g.Conv2D(in, g.Const("f", f, 3, 3, 3, 2), g.Const("b", b, 3), graph.Conv2DParams{StrideH: 2, StrideW: 2, Padding: tfl.PaddingSame})
			mustShape(t, y, 2, 4, 4, 3)
			g.Output("y", y)
			want, _ := refConv2D(x, []int{2, 7, 7, 2}, f, []int{3, 3, 3, 2}, b, 2, true)
			return []any{x}, []any{want}
		}},
		binaryCase("ADD", (*graph.Graph).Add, func(a, b float64) float64 { return a + b }),
		binaryCase("SUB", (*graph.Graph).Sub, func(a, b float64) float64 { return a - b }),
		binaryCase("MUL", (*graph.Graph).Mul, func(a, b float64) float64 { return a * b }),
		binaryCase("DIV", (*graph.Graph).Div, func(a, b float64) float64 { return a / b }),
		binaryCase("SQUARED_DIFFERENCE", (*graph.Graph).SquaredDifference, func(a, b float64) float64 { return (a - b) * (a - b) }),
		{name: "MEAN last axis keep dims", atol: tolArith, rtol: tolArith, build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			x := testutil.Randn(40, 2*3*8, 1)
			in := g.Input("x", graph.Float32, 2, 3, 8)
			y := g.Mean(in, []int{-1}, true)
			mustShape(t, y, 2, 3, 1)
			g.Output("y", y)
			want := make([]float32, 6)
			for r := range want {
				s := 0.0
				for _, v := range x[r*8 : r*8+8] {
					s += float64(v)
				}
				want[r] = float32(s / 8)
			}
			return []any{x}, []any{want}
		}},
		{name: "MEAN two axes", atol: tolArith, rtol: tolArith, build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			x := testutil.Randn(41, 2*3*4, 1)
			in := g.Input("x", graph.Float32, 2, 3, 4)
			y := g.Mean(in, []int{0, 2}, false)
			mustShape(t, y, 3)
			g.Output("y", y)
			want := make([]float32, 3)
			for j := 0; j < 3; j++ {
				s := 0.0
				for i := 0; i < 2; i++ {
					for k := 0; k < 4; k++ {
						s += float64(x[(i*3+j)*4+k])
					}
				}
				want[j] = float32(s / 8)
			}
			return []any{x}, []any{want}
		}},
		func() opCase {
			c := unaryCase("RSQRT", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Rsqrt(x) },
				func(v float64) float64 { return 1 / math.Sqrt(v) }, 0.01, 10)
			// In int8 the input step (10/255) is 4x the smallest input (0.01), where rsqrt is
			// steepest: the error there reaches about 4.5% of the output range.
			c.int8Tol = 0.06
			return c
		}(),
		unaryCase("LOGISTIC", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Logistic(x) }, sigmoid, -8, 8),
		unaryCase("TANH", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Tanh(x) }, math.Tanh, -4, 4),
		unaryCase("GELU", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Gelu(x, false) }, gelu, -6, 6),
		unaryCase("GELU approximate", func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Gelu(x, true) }, geluTanh, -6, 6),
		{name: "SOFTMAX", atol: tolTrans, rtol: tolTrans, build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			x := testutil.Randn(50, 3*4*7, 3)
			in := g.Input("x", graph.Float32, 3, 4, 7)
			g.Output("y", g.Softmax(in))
			return []any{x}, []any{refSoftmax(x, 7)}
		}},
		{name: "SOFTMAX beta", atol: tolTrans, rtol: tolTrans, build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			x := testutil.Randn(51, 2*9, 3)
			in := g.Input("x", graph.Float32, 2, 9)
			g.Output("y", g.Softmax(in, graph.Beta(0.5)))
			half := refUnary(x, func(v float64) float64 { return v / 2 })
			return []any{x}, []any{refSoftmax(half, 9)}
		}},
		{name: "L2_NORMALIZATION", atol: tolTrans, rtol: tolTrans, build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			x := testutil.Randn(52, 3*10, 2)
			in := g.Input("x", graph.Float32, 3, 10)
			g.Output("y", g.L2Normalize(in))
			want := make([]float32, len(x))
			for r := 0; r < 3; r++ {
				s := 0.0
				for _, v := range x[r*10 : r*10+10] {
					s += float64(v) * float64(v)
				}
				for i := 0; i < 10; i++ {
					want[r*10+i] = float32(float64(x[r*10+i]) / math.Sqrt(s))
				}
			}
			return []any{x}, []any{want}
		}},
		{name: "RESHAPE with -1", build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			x := testutil.Randn(60, 2*3*4, 1)
			in := g.Input("x", graph.Float32, 2, 3, 4)
			// RESHAPE alone would be an identity model; ADD zero keeps it a computation.
			y := g.Reshape(g.Add(in, g.Scalar("zero", 0)), []int{4, -1})
			mustShape(t, y, 4, 6)
			g.Output("y", y)
			return []any{x}, []any{x}
		}},
		{name: "TRANSPOSE", build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			x := testutil.Randn(61, 2*3*4*5, 1)
			in := g.Input("x", graph.Float32, 2, 3, 4, 5)
			y := g.Transpose(in, []int{0, 2, 1, 3})
			mustShape(t, y, 2, 4, 3, 5)
			g.Output("y", y)
			return []any{x}, []any{refTranspose(x, []int{2, 3, 4, 5}, []int{0, 2, 1, 3})}
		}},
		{name: "CONCATENATION", build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			a, b := testutil.Randn(62, 2*1*3, 1), testutil.Randn(63, 2*4*3, 1)
			x := g.Input("a", graph.Float32, 2, 1, 3)
			y := g.Input("b", graph.Float32, 2, 4, 3)
			c := g.Concat([]*graph.Tensor{x, y}, 1)
			mustShape(t, c, 2, 5, 3)
			g.Output("c", c)
			want := make([]float32, 0, 30)
			for i := 0; i < 2; i++ {
				want = append(want, a[i*3:i*3+3]...)
				want = append(want, b[i*12:i*12+12]...)
			}
			return []any{a, b}, []any{want}
		}},
		{name: "GATHER embedding lookup", build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			table := testutil.Randn(64, 10*4, 1)
			ids := []int32{3, 0, 9, 3, 7, 1}
			in := g.Input("ids", graph.Int32, 2, 3)
			y := g.Gather(g.Const("table", table, 10, 4), in, 0)
			mustShape(t, y, 2, 3, 4)
			g.Output("y", y)
			var want []float32
			for _, id := range ids {
				want = append(want, table[id*4:id*4+4]...)
			}
			return []any{ids}, []any{want}
		}},
		{name: "STRIDED_SLICE class token", build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			x := testutil.Randn(65, 2*5*3, 1)
			in := g.Input("x", graph.Float32, 2, 5, 3)
			// x[:, 0, :] as CLIP's vision pooling takes it.
			y := g.StridedSlice(in, []int{0, 0, 0}, []int{0, 1, 0}, []int{1, 1, 1}, graph.SliceMasks{Begin: 5, End: 5, ShrinkAxis: 2})
			mustShape(t, y, 2, 3)
			g.Output("y", y)
			want := append(append([]float32(nil), x[0:3]...), x[15:18]...)
			return []any{x}, []any{want}
		}},
		{name: "STRIDED_SLICE steps and negative indices", build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			x := testutil.Randn(66, 4*6, 1)
			in := g.Input("x", graph.Float32, 4, 6)
			// x[1:, -1:0:-2]
			y := g.StridedSlice(in, []int{1, -1}, []int{0, 0}, []int{1, -2}, graph.SliceMasks{End: 1})
			mustShape(t, y, 3, 3)
			g.Output("y", y)
			var want []float32
			for i := 1; i < 4; i++ {
				for j := 5; j > 0; j -= 2 {
					want = append(want, x[i*6+j])
				}
			}
			return []any{x}, []any{want}
		}},
		{name: "DYNAMIC_UPDATE_SLICE cache row", build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			cache, row := testutil.Randn(67, 1*6*4, 1), testutil.Randn(68, 1*1*4, 1)
			c := g.Input("cache", graph.Float32, 1, 6, 4)
			r := g.Input("row", graph.Float32, 1, 1, 4)
			pos := g.Input("start", graph.Int32, 3)
			g.Output("y", g.DynamicUpdateSlice(c, r, pos))
			want := append([]float32(nil), cache...)
			copy(want[2*4:], row)
			return []any{cache, row, []int32{0, 2, 0}}, []any{want}
		}},
		{name: "ARG_MAX", build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			x := testutil.Randn(69, 3*7, 1)
			in := g.Input("x", graph.Float32, 3, 7)
			y := g.ArgMax(in, -1, graph.Int32)
			mustShape(t, y, 3)
			g.Output("y", y)
			want := make([]int32, 3)
			for r := range want {
				for i := 1; i < 7; i++ {
					if x[r*7+i] > x[r*7+int(want[r])] {
						want[r] = int32(i)
					}
				}
			}
			return []any{x}, []any{want}
		}},
		{name: "DEQUANTIZE float16 constant", atol: 0, rtol: 0, build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			w := testutil.Randn(70, 12, 1)
			x := testutil.Randn(71, 12, 1)
			in := g.Input("x", graph.Float32, 12)
			y := g.Add(in, g.Dequantize(g.ConstFloat16("w16", w, 12)))
			g.Output("y", y)
			bits, _ := quant.Float16(w)
			w16 := quant.FromFloat16(bits)
			want := make([]float32, 12)
			for i := range want {
				want[i] = x[i] + w16[i] // exact: both float32 additions of the same values
			}
			return []any{x}, []any{want}
		}},
		{name: "QUANTIZE then DEQUANTIZE int8", build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			x := uniform(72, 20, -2, 3)
			p, _ := quant.Int8Params(-2, 3)
			in := g.Input("x", graph.Float32, 20)
			q := g.Quantize(in, graph.Int8, graph.PerTensor(p.Scale, int64(p.ZeroPoint)))
			g.Output("q", q)
			g.Output("y", g.Dequantize(q))
			qs, _ := p.QuantizeInt8(x)
			return []any{x}, []any{qs, p.DequantizeInt8(qs)}
		}, maxIntDiff: 1, atol: 0.0197}, // one step (5/255) at a rounding tie, float32 vs float64 division
		{name: "CAST int32 to float32", build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
			ids := []int32{-3, 0, 7, 123456}
			in := g.Input("ids", graph.Int32, 4)
			g.Output("y", g.Cast(in, graph.Float32))
			return []any{ids}, []any{[]float32{-3, 0, 7, 123456}}
		}},
	}
}

func binaryCase(name string, f func(g *graph.Graph, x, y *graph.Tensor, opts ...graph.Option) *graph.Tensor, ref func(a, b float64) float64) opCase {
	return opCase{name: name + " broadcast", atol: tolArith, rtol: tolArith, build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
		a := uniform(80, 2*3*4, 0.5, 2)
		b := uniform(81, 3*1, 0.5, 2)
		x := g.Input("a", graph.Float32, 2, 3, 4)
		y := g.Input("b", graph.Float32, 3, 1)
		out := f(g, x, y)
		mustShape(t, out, 2, 3, 4)
		g.Output("c", out)
		want, _ := refBinary(a, []int{2, 3, 4}, b, []int{3, 1}, ref)
		return []any{a, b}, []any{want}
	}}
}

func unaryCase(name string, f func(g *graph.Graph, x *graph.Tensor) *graph.Tensor, ref func(float64) float64, lo, hi float32) opCase {
	return opCase{name: name, atol: tolTrans, rtol: tolTrans, build: func(t *testing.T, g *graph.Graph) ([]any, []any) {
		x := uniform(90, 3*33, lo, hi)
		in := g.Input("x", graph.Float32, 3, 33)
		g.Output("y", f(g, in))
		return []any{x}, []any{refUnary(x, ref)}
	}}
}

// mustShape fails the test if shape inference gave another shape.
func mustShape(t *testing.T, x *graph.Tensor, shape ...int) {
	t.Helper()
	if got := x.Shape(); fmt.Sprint(got) != fmt.Sprint(shape) {
		t.Fatalf("inferred shape of %s is %v, want %v", x, got, shape)
	}
}

func TestOps(t *testing.T) {
	for _, tc := range opCases() {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New("op")
			inputs, want := tc.build(t, g)
			model, err := g.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range delegates {
				got := run(t, model, d, inputs...)
				compare(t, d.name, got, want, tc.atol, tc.rtol, tc.maxIntDiff)
			}
			// Which ops XNNPACK takes matters for speed (go test -v shows it).
			t.Logf("%v", delegation[t.Name()+" xnnpack"])
		})
	}
}

func compare(t *testing.T, what string, got, want []any, atol, rtol float64, maxIntDiff int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d outputs, want %d", what, len(got), len(want))
	}
	for i := range want {
		label := fmt.Sprintf("%s output %d", what, i)
		switch w := want[i].(type) {
		case []float32:
			g, ok := got[i].([]float32)
			if !ok {
				t.Fatalf("%s: got %T, want []float32", label, got[i])
			}
			closeTo(t, label, g, w, atol, rtol)
		case []int32:
			g, ok := got[i].([]int32)
			if !ok || len(g) != len(w) {
				t.Fatalf("%s: got %v, want %v", label, got[i], w)
			}
			for j := range w {
				if d := int(g[j]) - int(w[j]); d > maxIntDiff || -d > maxIntDiff {
					t.Fatalf("%s: element %d = %d, want %d", label, j, g[j], w[j])
				}
			}
		case []int8:
			g, ok := got[i].([]int8)
			if !ok || len(g) != len(w) {
				t.Fatalf("%s: got %v, want %v", label, got[i], w)
			}
			for j := range w {
				if d := int(g[j]) - int(w[j]); d > maxIntDiff || -d > maxIntDiff {
					t.Fatalf("%s: element %d = %d, want %d (±%d)", label, j, g[j], w[j], maxIntDiff)
				}
			}
		default:
			t.Fatalf("%s: unsupported reference %T", label, want[i])
		}
	}
}
