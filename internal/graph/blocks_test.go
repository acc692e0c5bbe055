package graph_test

import (
	"math"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/nn"
	"github.com/edged/edged/internal/testutil"
)

func TestLayerNorm(t *testing.T) {
	const rows, dim = 10, 32
	x := testutil.Randn(100, rows*dim, 2)
	for i := range x { // an offset per row, as residual streams have
		x[i] += float32(i / dim)
	}
	gamma, beta := uniform(101, dim, 0.5, 1.5), testutil.Randn(102, dim, 0.1)
	g := graph.New("layer_norm")
	in := g.Input("x", graph.Float32, 2, 5, dim)
	y := nn.LayerNorm(g, "ln", in, g.Const("gamma", gamma, dim), g.Const("beta", beta, dim), 1e-5)
	g.Output("y", y)
	model, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := refLayerNorm(x, dim, gamma, beta, 1e-5)
	for _, d := range delegates {
		// Normalised values are O(1); mean, variance and rsqrt each round once in float32.
		closeTo(t, d.name, run(t, model, d, x)[0].([]float32), want, 1e-4, 1e-4)
	}
}

// refAttention is the block nn.Attention builds, in float64 loops: projections, per-head
// softmax(q·kᵀ/√dh + mask)·v, output projection. mask is [batch][key] additive or nil.
func refAttention(x []float32, batch, seq, dim, heads int, w map[string][]float32, mask [][]float32, causal bool) []float32 {
	rows := batch * seq
	q := refLinear(x, rows, dim, w["q.w"], dim, w["q.b"])
	k := refLinear(x, rows, dim, w["k.w"], dim, w["k.b"])
	v := refLinear(x, rows, dim, w["v.w"], dim, w["v.b"])
	dh := dim / heads
	ctx := make([]float32, rows*dim)
	for b := 0; b < batch; b++ {
		for h := 0; h < heads; h++ {
			for i := 0; i < seq; i++ {
				scores := make([]float32, seq)
				for j := 0; j < seq; j++ {
					s := 0.0
					for e := 0; e < dh; e++ {
						s += float64(q[(b*seq+i)*dim+h*dh+e]) * float64(k[(b*seq+j)*dim+h*dh+e])
					}
					s /= math.Sqrt(float64(dh))
					if mask != nil {
						s += float64(mask[b][j])
					}
					if causal && j > i {
						s += nn.MaskValue
					}
					scores[j] = float32(s)
				}
				p := refSoftmax(scores, seq)
				for e := 0; e < dh; e++ {
					acc := 0.0
					for j := 0; j < seq; j++ {
						acc += float64(p[j]) * float64(v[(b*seq+j)*dim+h*dh+e])
					}
					ctx[(b*seq+i)*dim+h*dh+e] = float32(acc)
				}
			}
		}
	}
	return refLinear(ctx, rows, dim, w["o.w"], dim, w["o.b"])
}

func attentionWeights(g *graph.Graph, dim int) (nn.AttentionWeights, map[string][]float32) {
	w := map[string][]float32{}
	lin := func(name string, seed int64) nn.Linear {
		w[name+".w"], w[name+".b"] = testutil.Randn(seed, dim*dim, 0.25), testutil.Randn(seed+1, dim, 0.1)
		return nn.NewLinear(g, name, w[name+".w"], dim, dim, w[name+".b"])
	}
	return nn.AttentionWeights{Q: lin("q", 110), K: lin("k", 112), V: lin("v", 114), Out: lin("o", 116)}, w
}

func TestMultiHeadAttention(t *testing.T) {
	const batch, seq, dim, heads = 2, 6, 16, 4
	x := testutil.Randn(120, batch*seq*dim, 1)
	// Padding mask: the second sequence has its last two tokens masked out.
	maskRows := [][]float32{make([]float32, seq), {0, 0, 0, 0, nn.MaskValue, nn.MaskValue}}
	var maskData []float32
	for _, r := range maskRows {
		maskData = append(maskData, r...)
	}
	for _, tc := range []struct {
		name   string
		mask   bool
		causal bool
	}{{"plain", false, false}, {"padding mask", true, false}, {"causal", false, true}, {"causal and mask", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.New("attention")
			in := g.Input("x", graph.Float32, batch, seq, dim)
			inputs := []any{x}
			opts := nn.AttentionOptions{Causal: tc.causal}
			var mask [][]float32
			if tc.mask {
				opts.Mask = g.Input("mask", graph.Float32, batch, 1, 1, seq)
				inputs = append(inputs, maskData)
				mask = maskRows
			}
			w, wd := attentionWeights(g, dim)
			g.Output("y", nn.Attention(g, "attn", in, in, w, heads, opts))
			model, err := g.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			want := refAttention(x, batch, seq, dim, heads, wd, mask, tc.causal)
			for _, d := range delegates {
				// Four chained matmuls of length 16 and a softmax: float32 error ~1e-6 relative.
				closeTo(t, d.name, run(t, model, d, inputs...)[0].([]float32), want, 1e-4, 1e-4)
			}
		})
	}
}

// TestDynamicSequence builds an attention + layer norm block with a dynamic sequence length and
// runs it at two lengths after resizing the input, as a text tower runs at a label's length.
func TestDynamicSequence(t *testing.T) {
	const dim, heads = 16, 2
	g := graph.New("dynamic")
	in := g.Input("x", graph.Float32, 1, graph.Dynamic, dim)
	w, wd := attentionWeights(g, dim)
	gamma, beta := uniform(130, dim, 0.5, 1.5), testutil.Randn(131, dim, 0.1)
	a := nn.Attention(g, "attn", in, in, w, heads, nn.AttentionOptions{})
	y := nn.LayerNorm(g, "ln", g.Add(in, a), g.Const("gamma", gamma, dim), g.Const("beta", beta, dim), 1e-5)
	if got := y.Shape(); got[1] != graph.Dynamic {
		t.Fatalf("output shape %v lost the dynamic dimension", got)
	}
	g.Output("y", y)
	model, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []int{3, 7} {
		x := testutil.Randn(int64(132+seq), seq*dim, 1)
		att := refAttention(x, 1, seq, dim, heads, wd, nil, false)
		res := make([]float32, len(x))
		for i := range x {
			res[i] = x[i] + att[i]
		}
		want := refLayerNorm(res, dim, gamma, beta, 1e-5)
		for _, d := range delegates {
			got := runResized(t, model, d, [][]int{{1, seq, dim}}, x)[0].([]float32)
			closeTo(t, d.name, got, want, 1e-4, 1e-4)
		}
	}
}

func TestQuickGELU(t *testing.T) {
	x := uniform(140, 64, -6, 6)
	g := graph.New("quick_gelu")
	in := g.Input("x", graph.Float32, 64)
	g.Output("y", nn.QuickGELU(g, "act", in))
	model, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := refUnary(x, func(v float64) float64 { return v * sigmoid(1.702*v) })
	for _, d := range delegates {
		closeTo(t, d.name, run(t, model, d, x)[0].([]float32), want, tolTrans, tolTrans)
	}
}
