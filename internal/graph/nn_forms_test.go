package graph_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/nn"
	"github.com/edged/edged/internal/graph/tfl"
	"github.com/edged/edged/internal/testutil"
)

// TestLayerNormRealSize checks nn.LayerNorm at CLIP's width on rows like a residual stream:
// an offset per row and a few outlier features a hundred times the rest (as trained CLIP and
// BLIP towers have). The layer norm has no weights, so every precision lowers it alike; at
// Int8Full with the norm kept in float by name it is the float result.
func TestLayerNormRealSize(t *testing.T) {
	const rows, dim = 50, 768
	x := testutil.Randn(710, rows*dim, 1)
	for r := 0; r < rows; r++ {
		for i := 0; i < dim; i++ {
			x[r*dim+i] += float32(r%7) - 3
		}
		x[r*dim+17] *= 100
		x[r*dim+400] = -80 + float32(r)
	}
	gamma, beta := uniform(711, dim, 0.5, 1.5), testutil.Randn(712, dim, 0.1)
	g := graph.New("layer_norm")
	in := g.Input("x", graph.Float32, 1, rows, dim)
	g.Output("y", nn.LayerNorm(g, "ln", in, g.Const("gamma", gamma, dim), g.Const("beta", beta, dim), 1e-5))
	want := refLayerNorm(x, dim, gamma, beta, 1e-5)
	for _, p := range []graph.Precision{graph.FP32, graph.FP16, graph.Int8Dynamic} {
		model, err := g.MarshalAs(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range delegates {
			// Sums of 768 values with a spread of 10⁴: float32 reordering stays below 1e-4.
			closeTo(t, p.String()+" "+d.name, run(t, model, d, x)[0].([]float32), want, 1e-4, 1e-4)
		}
		// On amd64 edged's kernels take the whole layer norm (runtime/kernels, layernorm.c);
		// elsewhere the two MEANs stay on TFLite's kernel and SUB, MUL, ADD, SQRT, DIV go to
		// XNNPACK.
		dl := delegation[t.Name()+" xnnpack"]
		if runtime.GOARCH == "amd64" {
			if dl.Nodes != 9 || dl.KernelNodes != 9 || dl.KernelPartitions != 1 {
				t.Errorf("%v xnnpack: %v, want the 9 operators in 1 partition of the kernels", p, dl)
			}
		} else if dl.Nodes != 9 || dl.DelegatedNodes != 7 || dl.Partitions != 2 {
			t.Errorf("%v xnnpack: %v, want 7 of 9 operators in 2 partitions", p, dl)
		}
	}
	// The output takes the name "y"; keep it too.
	keep := func(name string, _ tfl.BuiltinOp) bool { return strings.HasPrefix(name, "ln") || name == "y" }
	model, err := g.MarshalWith(graph.LowerOptions{Precision: graph.Int8Full, Ranges: calibrate(t, g, []any{x}), KeepFloat: keep})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range int8Delegates {
		closeTo(t, "int8 "+d.name, run(t, model, d, x)[0].([]float32), want, 1e-4, 1e-4)
	}
	m, err := tfl.Unmarshal(model)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range m.Subgraphs[0].Operators {
		switch code := m.OperatorCodes[op.OpcodeIndex].Builtin; code {
		case tfl.OpRsqrt, tfl.OpSquaredDifference, tfl.OpQuantize, tfl.OpDequantize:
			t.Errorf("layer norm has a %v operator", code)
		}
	}
}
