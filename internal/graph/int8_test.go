package graph_test

import (
	"math"
	"strings"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/nn"
	"github.com/edged/edged/internal/graph/tfl"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/quant"
)

// calibrate runs the float model with every activation exposed (ObserveAll) on each input set
// and returns min/max ranges by tensor name, graph inputs included.
func calibrate(t *testing.T, g *graph.Graph, inputSets ...[]any) map[string]quant.Range {
	t.Helper()
	model, err := g.MarshalWith(graph.LowerOptions{Precision: graph.FP32, ObserveAll: true})
	if err != nil {
		t.Fatal(err)
	}
	m, err := tfl.Unmarshal(model)
	if err != nil {
		t.Fatal(err)
	}
	sig := m.SignatureDefs[0]
	observers := map[string]*quant.MinMax{}
	observe := func(name string, v any) {
		f, ok := v.([]float32)
		if !ok {
			return // int32 ids, argmax indices: not quantized
		}
		if observers[name] == nil {
			observers[name] = &quant.MinMax{}
		}
		if err := observers[name].Observe(f); err != nil {
			t.Fatalf("observe %s: %v", name, err)
		}
	}
	for _, inputs := range inputSets {
		for i, in := range inputs {
			observe(sig.Inputs[i].Name, in)
		}
		for i, out := range run(t, model, delegates[0], inputs...) {
			observe(sig.Outputs[i].Name, out)
		}
	}
	ranges := map[string]quant.Range{}
	for name, o := range observers {
		ranges[name], _ = o.Range()
	}
	return ranges
}

// TestInt8Ops lowers each op test's graph at Int8Full with ranges calibrated on its own inputs
// and compares with the float reference. Error budget: the output is quantized to 255 steps of
// its range, and every int8 input is too; a single op stays within a few steps of its output
// range. Written as |err| <= 4% of the reference output's range (≈10 steps).
func TestInt8Ops(t *testing.T) {
	for _, tc := range opCases() {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New("op")
			inputs, want := tc.build(t, g)
			ranges := calibrate(t, g, inputs)
			model, err := g.MarshalWith(graph.LowerOptions{Precision: graph.Int8Full, Ranges: ranges})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range int8Delegates {
				got := run(t, model, d, inputs...)
				for i := range want {
					w, ok := want[i].([]float32)
					if !ok {
						compare(t, d.name, got[i:i+1], want[i:i+1], 0, 0, tc.maxIntDiff+int(tc.atol)) // int outputs
						continue
					}
					lo, hi := 0.0, 0.0
					for _, v := range w {
						lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
					}
					frac := 0.04
					if tc.int8Tol != 0 {
						frac = tc.int8Tol
					}
					tol := frac*(hi-lo) + 1e-6
					worst := 0.0
					for j, v := range got[i].([]float32) {
						worst = math.Max(worst, math.Abs(float64(v)-float64(w[j])))
					}
					if worst > tol {
						t.Errorf("%s output %d: max |err| %.4g > %.4g (%.0f%% of range %.4g)", d.name, i, worst, tol, 100*frac, hi-lo)
					}
					t.Logf("%s output %d: max |err| %.3g = %.2f%% of range", d.name, i, worst, 100*worst/(hi-lo))
				}
			}
			t.Logf("%v", delegation[t.Name()+" xnnpack-qs8"])
		})
	}
}

// encoderBlock builds a pre-norm transformer encoder layer (as in CLIP's vision tower):
// x + attn(ln1(x)), then + mlp(ln2(·)) with quick GELU.
func encoderBlock(g *graph.Graph, x *graph.Tensor, dim, heads int) *graph.Tensor {
	ln := func(name string, seed int64, in *graph.Tensor) *graph.Tensor {
		return nn.LayerNorm(g, name, in, g.Const(name+".weight", uniform(seed, dim, 0.8, 1.2), dim), g.Const(name+".bias", testutil.Randn(seed+1, dim, 0.05), dim), 1e-5)
	}
	w, _ := attentionWeights(g, dim)
	h := g.Add(x, nn.Attention(g, "attn", ln("ln1", 300, x), ln("ln1", 300, x), w, heads, nn.AttentionOptions{}), graph.Named("residual1"))
	fc1 := nn.NewLinear(g, "fc1", testutil.Randn(310, 4*dim*dim, 0.2), 4*dim, dim, testutil.Randn(311, 4*dim, 0.05))
	fc2 := nn.NewLinear(g, "fc2", testutil.Randn(312, 4*dim*dim, 0.1), dim, 4*dim, testutil.Randn(313, dim, 0.05))
	m := fc2.Apply(g, "mlp_out", nn.QuickGELU(g, "mlp_act", fc1.Apply(g, "mlp_in", ln("ln2", 320, h))))
	return g.Add(h, m, graph.Named("residual2"))
}

// TestInt8EncoderBlock calibrates a transformer layer on 8 random inputs and checks the int8
// model on 4 others against the float model: the cosine of the outputs stays at or above 0.995
// with layer norms kept in float, and every quantized operator in the file is int8.
func TestInt8EncoderBlock(t *testing.T) {
	const seq, dim, heads = 10, 32, 4
	build := func() *graph.Graph {
		g := graph.New("block")
		x := g.Input("x", graph.Float32, 1, seq, dim)
		g.Output("y", encoderBlock(g, x, dim, heads))
		return g
	}
	input := func(seed int64) []any { return []any{testutil.Randn(seed, seq*dim, 1)} }
	g := build()
	var calib [][]any
	for i := int64(0); i < 8; i++ {
		calib = append(calib, input(400+i))
	}
	ranges := calibrate(t, g, calib...)
	fp32, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	keepLN := func(name string, _ tfl.BuiltinOp) bool { return strings.HasPrefix(name, "ln") }
	for _, tc := range []struct {
		name      string
		keep      func(string, tfl.BuiltinOp) bool
		minCosine float64
	}{
		{"all int8", nil, 0.98},
		{"layer norm in float", keepLN, 0.995},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model, err := g.MarshalWith(graph.LowerOptions{Precision: graph.Int8Full, Ranges: ranges, KeepFloat: tc.keep})
			if err != nil {
				t.Fatal(err)
			}
			m, err := tfl.Unmarshal(model)
			if err != nil {
				t.Fatal(err)
			}
			for _, op := range m.Subgraphs[0].Operators {
				code := m.OperatorCodes[op.OpcodeIndex].Builtin
				out := m.Subgraphs[0].Tensors[op.Outputs[0]]
				isLN := strings.HasPrefix(out.Name, "ln")
				if code == tfl.OpFullyConnected && out.Type != tfl.Int8 && !(isLN && tc.keep != nil) {
					t.Fatalf("FULLY_CONNECTED %q left as %v", out.Name, out.Type)
				}
				if tc.keep != nil && isLN && code != tfl.OpQuantize && code != tfl.OpDequantize && out.Type != tfl.Float32 {
					t.Fatalf("layer norm op %v %q is %v, want FLOAT32", code, out.Name, out.Type)
				}
			}
			for i := int64(0); i < 4; i++ {
				in := input(500 + i)
				want := run(t, fp32, delegates[0], in...)[0].([]float32)
				for _, d := range int8Delegates {
					got := run(t, model, d, in...)[0].([]float32)
					if c := testutil.Cosine(got, want); c < tc.minCosine {
						t.Fatalf("%s input %d: cosine %.5f < %.3f", d, i, c, tc.minCosine)
					} else if i == 0 {
						t.Logf("%s: cosine %.5f, %v", d, c, delegation[t.Name()+" "+d.name])
					}
				}
			}
		})
	}
}

// TestInt8ConcatRequantizes: two int8 results with different ranges meet in a CONCATENATION,
// whose 2.9 kernel wants one set of parameters: the lowering requantizes them.
func TestInt8ConcatRequantizes(t *testing.T) {
	g := graph.New("concat")
	a := g.Input("a", graph.Float32, 2, 3)
	b := g.Input("b", graph.Float32, 2, 3)
	small := g.Mul(a, g.Scalar("tenth", 0.1), graph.Named("small"))
	big := g.Mul(b, g.Scalar("ten", 10), graph.Named("big"))
	g.Output("c", g.Concat([]*graph.Tensor{small, big}, 1))
	inputs := []any{uniform(600, 6, -1, 1), uniform(601, 6, -1, 1)}
	model, err := g.MarshalWith(graph.LowerOptions{Precision: graph.Int8Full, Ranges: calibrate(t, g, inputs)})
	if err != nil {
		t.Fatal(err)
	}
	av, bv := inputs[0].([]float32), inputs[1].([]float32)
	var want []float32
	for r := 0; r < 2; r++ {
		for j := 0; j < 3; j++ {
			want = append(want, av[r*3+j]*0.1)
		}
		for j := 0; j < 3; j++ {
			want = append(want, bv[r*3+j]*10)
		}
	}
	for _, d := range int8Delegates {
		// The output step is 20/255 ≈ 0.08; two requantizations cost at most one step each.
		compare(t, d.name, run(t, model, d, inputs...), []any{want}, 2*20.0/255, 0, 0)
	}
}

func TestInt8NeedsRanges(t *testing.T) {
	g := graph.New("ranges")
	x := g.Input("x", graph.Float32, 4)
	sum := g.Add(x, x, graph.Named("sum"))
	g.Output("y", g.Mul(sum, sum))
	_, err := g.Lower(graph.LowerOptions{Precision: graph.Int8Full, Ranges: map[string]quant.Range{"x": {Min: -1, Max: 1}}})
	if err == nil || !strings.Contains(err.Error(), `no calibration range for tensor "sum"`) {
		t.Fatalf("error %v, want a missing range for sum", err)
	}
	if _, err := g.Lower(graph.LowerOptions{Precision: graph.Int8Full, ObserveAll: true}); err == nil {
		t.Fatal("ObserveAll accepted at int8")
	}
}
