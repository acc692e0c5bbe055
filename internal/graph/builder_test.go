package graph_test

import (
	"strings"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/tfl"
)

func TestShapeErrorsNameTheOperator(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(g *graph.Graph)
		want  string
	}{
		{"fc inner dim", func(g *graph.Graph) {
			g.FullyConnected(g.Input("x", graph.Float32, 2, 5), g.Const("w", make([]float32, 12), 3, 4), nil, graph.Named("proj"))
		}, `FULLY_CONNECTED "proj": input "x" FLOAT32[2 5]: last dimension must be 4`},
		{"fc bias", func(g *graph.Graph) {
			g.FullyConnected(g.Input("x", graph.Float32, 2, 4), g.Const("w", make([]float32, 12), 3, 4), g.Const("b", make([]float32, 4), 4))
		}, `bias "b" FLOAT32[4] must have shape [3]`},
		{"add broadcast", func(g *graph.Graph) {
			g.Add(g.Input("a", graph.Float32, 2, 3), g.Input("b", graph.Float32, 4))
		}, "ADD (output \"add\"): shapes [2 3] and [4] do not broadcast"},
		{"type mismatch", func(g *graph.Graph) {
			g.Mul(g.Input("a", graph.Float32, 2), g.Input("b", graph.Int32, 2))
		}, "differ in type"},
		{"matmul inner", func(g *graph.Graph) {
			g.BatchMatMul(g.Input("a", graph.Float32, 2, 3, 4), g.Input("b", graph.Float32, 2, 5, 6), false, false)
		}, "BATCH_MATMUL (output \"batch_matmul\"): inner dimensions differ"},
		{"reshape count", func(g *graph.Graph) {
			g.Reshape(g.Input("x", graph.Float32, 2, 3), []int{4, 2})
		}, "cannot reshape"},
		{"reshape two -1", func(g *graph.Graph) {
			g.Reshape(g.Input("x", graph.Float32, 2, 3), []int{-1, -1})
		}, "more than one -1"},
		{"reshape dynamic needs -1", func(g *graph.Graph) {
			g.Reshape(g.Input("x", graph.Float32, 1, graph.Dynamic, 4), []int{4, 4})
		}, "needs a -1"},
		{"transpose perm", func(g *graph.Graph) {
			g.Transpose(g.Input("x", graph.Float32, 2, 3), []int{0, 0})
		}, "is not a permutation"},
		{"mean axis", func(g *graph.Graph) {
			g.Mean(g.Input("x", graph.Float32, 2, 3), []int{2}, true)
		}, "axis 2 out of range for rank 2"},
		{"concat dims", func(g *graph.Graph) {
			g.Concat([]*graph.Tensor{g.Input("a", graph.Float32, 2, 3), g.Input("b", graph.Float32, 3, 3)}, 1)
		}, "differ in dimension 0"},
		{"gather indices type", func(g *graph.Graph) {
			g.Gather(g.Const("t", make([]float32, 4), 2, 2), g.Input("i", graph.Float32, 2), 0)
		}, "must be INT32 or INT64"},
		{"slice index", func(g *graph.Graph) {
			g.StridedSlice(g.Input("x", graph.Float32, 2, 3), []int{0, 5}, []int{0, 0}, []int{1, 1}, graph.SliceMasks{Begin: 1, End: 1, ShrinkAxis: 2})
		}, "index 5 out of range for dimension 1"},
		{"conv channels", func(g *graph.Graph) {
			g.Conv2D(g.Input("x", graph.Float32, 1, 8, 8, 3), g.Const("f", make([]float32, 4*2*2*2), 4, 2, 2, 2), nil, graph.Conv2DParams{})
		}, "input channels"},
		{"conv too small", func(g *graph.Graph) {
			g.Conv2D(g.Input("x", graph.Float32, 1, 2, 2, 1), g.Const("f", make([]float32, 9), 1, 3, 3, 1), nil, graph.Conv2DParams{Padding: tfl.PaddingValid})
		}, "smaller than filter"},
		{"update slice", func(g *graph.Graph) {
			g.DynamicUpdateSlice(g.Input("c", graph.Float32, 1, 4), g.Input("u", graph.Float32, 1, 5), g.Input("s", graph.Int32, 2))
		}, "larger than operand"},
		{"int8 output needs quant", func(g *graph.Graph) {
			x := g.QuantizedInput("x", graph.Int8, graph.PerTensor(0.1, 0), 4)
			g.Add(x, x)
		}, "INT8 output needs quantization parameters"},
		{"float16 needs dequantize", func(g *graph.Graph) {
			g.Add(g.ConstFloat16("h", []float32{1}, 1), g.Input("x", graph.Float32, 1))
		}, "differ in type"},
		{"constant size", func(g *graph.Graph) {
			g.Const("w", make([]float32, 5), 2, 3)
		}, `constant "w": 5 values do not fill shape [2 3]`},
		{"bad quant", func(g *graph.Graph) {
			g.QuantizedConst("q", []int8{1, 2}, graph.Quant{Scale: []float32{0.1, 0.2}, ZeroPoint: []int64{0, 0}, Axis: 1}, 2, 1)
		}, "per-channel quantization: 2 scales on axis 1"},
		{"missing input", func(g *graph.Graph) {
			g.FullyConnected(nil, g.Const("w", make([]float32, 4), 2, 2), nil)
		}, "missing input x"},
		{"float16 overflow", func(g *graph.Graph) {
			g.ConstFloat16("h", []float32{1e6}, 1)
		}, "overflows float16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New("bad")
			tc.build(g)
			err := g.Err()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if _, merr := g.Marshal(); merr != err {
				t.Fatalf("Marshal returned %v, want the sticky error", merr)
			}
		})
	}
}

// TestStickyError: after the first error every builder returns nil without touching the
// graph, and Marshal reports the first error, not a later one.
func TestStickyError(t *testing.T) {
	g := graph.New("sticky")
	x := g.Input("x", graph.Float32, 2, 3)
	bad := g.Reshape(x, []int{7}, graph.Named("first"))
	if bad != nil {
		t.Fatal("a failing builder returned a tensor")
	}
	first := g.Err()
	y := g.Add(bad, x)                       // nil input after an error: still no panic
	z := g.Softmax(g.Transpose(y, []int{9})) // and a chain of them
	g.Output("z", z)
	if y != nil || z != nil || g.Err() != first {
		t.Fatalf("later calls changed the error to %v or returned tensors", g.Err())
	}
	if !strings.Contains(first.Error(), `RESHAPE "first"`) {
		t.Fatalf("first error %v does not name the operator", first)
	}
	// Methods on the nil tensors a failed graph hands out are safe.
	if y.Shape() != nil || y.Name() != "" || y.Rank() != 0 || y.Dim(0) != 0 || y.String() != "<nil tensor>" {
		t.Fatal("nil tensor methods")
	}
}

func TestForeignTensorAndOutputs(t *testing.T) {
	g1, g2 := graph.New("one"), graph.New("two")
	x1 := g1.Input("x", graph.Float32, 2)
	x2 := g2.Input("x", graph.Float32, 2)
	g2.Add(x1, x2)
	if err := g2.Err(); err == nil || !strings.Contains(err.Error(), `belongs to graph "one"`) {
		t.Fatalf("foreign tensor: %v", err)
	}

	g := graph.New("outputs")
	x := g.Input("x", graph.Float32, 2)
	g.Output("x_out", x)
	if err := g.Err(); err == nil || !strings.Contains(err.Error(), "graph input or constant") {
		t.Fatalf("input as output: %v", err)
	}
	g = graph.New("outputs")
	x = g.Input("x", graph.Float32, 2)
	y := g.Add(x, x)
	g.Output("y", y)
	g.Output("y", g.Mul(x, x))
	if err := g.Err(); err == nil || !strings.Contains(err.Error(), `output "y" declared twice`) {
		t.Fatalf("duplicate output: %v", err)
	}
	if _, err := graph.New("empty").Marshal(); err == nil || !strings.Contains(err.Error(), "no outputs") {
		t.Fatalf("graph without outputs: %v", err)
	}
}

func TestNamesAreUnique(t *testing.T) {
	g := graph.New("names")
	x := g.Input("x", graph.Float32, 2)
	a := g.Add(x, x)
	b := g.Add(x, x)
	c := g.Add(x, x, graph.Named("add"))
	if a.Name() != "add" || b.Name() != "add_2" || c.Name() != "add_3" {
		t.Fatalf("names %q %q %q", a.Name(), b.Name(), c.Name())
	}
	g.Output("sum", b)
	if b.Name() != "sum" {
		t.Fatalf("output kept name %q", b.Name())
	}
}

func TestRoles(t *testing.T) {
	g := graph.New("roles")
	x := g.Input("x", graph.Float32, 2, 4)
	w, b := g.Const("w", make([]float32, 12), 3, 4), g.Const("b", make([]float32, 3), 3)
	gain := g.Const("gain", make([]float32, 3), 3)
	unused := g.Const("unused", make([]float32, 1), 1)
	g.Output("y", g.Mul(g.FullyConnected(x, w, b), gain))
	for _, tc := range []struct {
		t    *graph.Tensor
		want graph.Role
	}{{w, graph.RoleWeight}, {b, graph.RoleBias}, {gain, graph.RoleParam}, {unused, graph.RoleNone}, {x, graph.RoleNone}} {
		if got := tc.t.Role(); got != tc.want {
			t.Errorf("%s: role %v, want %v", tc.t, got, tc.want)
		}
	}
	// The unused constant is left out of the model.
	m, err := g.Lower(graph.LowerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range m.Subgraphs[0].Tensors {
		if tn.Name == "unused" {
			t.Fatal("unused constant written")
		}
	}
}

func TestParsePrecision(t *testing.T) {
	for _, p := range []graph.Precision{graph.FP32, graph.FP16, graph.Int8Dynamic} {
		got, err := graph.ParsePrecision(p.String())
		if err != nil || got != p {
			t.Fatalf("%v: %v %v", p, got, err)
		}
	}
	if _, err := graph.ParsePrecision("int4"); err == nil {
		t.Fatal("int4 accepted")
	}
}
