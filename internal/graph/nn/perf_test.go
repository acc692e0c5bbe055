package nn

// Block benchmarks: each form of a block at CLIP ViT-B/32 size (50 tokens) and BLIP base at
// 384 (577 tokens), fp32 with XNNPACK, invoked side by side (see compareModels).
//
//	go test ./internal/graph/nn -run '^$' -bench Blocks -benchtime 200x

import (
	"flag"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/internal/cputime"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/tfl"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/quant"
	"github.com/edged/edged/runtime/tflite"
)

var blockThreads = flag.Int("perf.threads", 1, "interpreter threads in BenchmarkBlocks")

// modelVariant is one form of a block, built as a one-input graph.
type modelVariant struct {
	name  string
	build func(g *graph.Graph, x *graph.Tensor) *graph.Tensor
	// int8 lowers at Int8Full (ranges calibrated on the benchmark input, keep in float) and
	// runs with XNNPACK's QS8 flag.
	int8 bool
	keep func(string, tfl.BuiltinOp) bool
}

type loaded struct {
	name  string
	m     *tflite.Model
	ip    *tflite.Interpreter
	times []time.Duration
	cpu   []time.Duration
}

// compareModels builds every variant on an input of shape, loads it with opts, then invokes
// all of them once per iteration in rotating order, so that machine noise hits every variant
// alike. It reports the median wall milliseconds of each as "<name>_ms" and, with one thread,
// the median CPU milliseconds of the invoking thread as "<name>_cpu_ms": on a shared machine
// the CPU time is the figure to compare, as it leaves out the time other processes held the
// core.
func compareModels(b *testing.B, shape []int, opts tflite.Options, variants []modelVariant) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	x := testutil.Randn(1, n, 1)
	var ls []*loaded
	defer func() {
		for _, l := range ls {
			l.ip.Close()
			l.m.Close()
		}
	}()
	for _, v := range variants {
		g := graph.New(v.name)
		in := g.Input("x", graph.Float32, shape...)
		g.Output("y", v.build(g, in))
		lower, o := graph.LowerOptions{Precision: graph.FP32}, opts
		if v.int8 {
			lower = graph.LowerOptions{Precision: graph.Int8Full, Ranges: calibrateOn(b, g, x), KeepFloat: v.keep}
			o.XNNPackQS8 = o.Delegate == tflite.DelegateXNNPack
		}
		data, err := g.MarshalWith(lower)
		if err != nil {
			b.Fatalf("%s: %v", v.name, err)
		}
		m, err := tflite.NewModel(data)
		if err != nil {
			b.Fatal(err)
		}
		ip, err := tflite.NewInterpreter(m, o)
		if err != nil {
			m.Close()
			b.Fatal(err)
		}
		ls = append(ls, &loaded{name: v.name, m: m, ip: ip})
		if err := ip.Input(0).SetFloat32(x); err != nil {
			b.Fatal(err)
		}
		if err := ip.Invoke(); err != nil {
			b.Fatal(err)
		}
		b.Logf("%-24s %v", v.name, ip.Delegation())
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range ls {
			l := ls[(i+j)%len(ls)]
			start, cpu := time.Now(), cputime.Thread()
			if err := l.ip.Invoke(); err != nil {
				b.Fatal(err)
			}
			l.cpu = append(l.cpu, cputime.Thread()-cpu)
			l.times = append(l.times, time.Since(start))
		}
	}
	b.StopTimer()
	for _, l := range ls {
		b.ReportMetric(median(l.times), l.name+"_ms")
		if opts.Threads == 1 {
			b.ReportMetric(median(l.cpu), l.name+"_cpu_ms")
		}
	}
}

// attentionForm selects how the attention core is written in BenchmarkBlocks.
type attentionForm struct {
	// scaleInSoftmax puts the scale into SOFTMAX's beta instead of a MUL on q (XNNPACK 2.9
	// takes only beta 1, so the softmax then runs on TFLite's kernel).
	scaleInSoftmax bool
	// vTransposed transposes v to [B, H, Dh, Sk] for an adj_y BATCH_MATMUL (TFLite's kernel
	// transposes a right-hand side read without adj_y on every call).
	vTransposed bool
	// fusedQKV projects q, k and v with one FULLY_CONNECTED (fusedQKVAttention).
	fusedQKV bool
}

// attentionCore is MultiHeadAttention without a mask, written in form f.
func attentionCore(g *graph.Graph, name string, q, k, v *graph.Tensor, heads int, f attentionForm) *graph.Tensor {
	d := q.Dim(-1)
	dh := d / heads
	scale := float32(1 / math.Sqrt(float64(dh)))
	split := func(x *graph.Tensor, what string, perm []int) *graph.Tensor {
		r := g.Reshape(x, []int{1, -1, heads, dh}, graph.Named(name+"/"+what+"_heads"))
		return g.Transpose(r, perm, graph.Named(name+"/"+what+"_t"))
	}
	bhsd := []int{0, 2, 1, 3}
	beta := scale
	if !f.scaleInSoftmax {
		q, beta = g.Mul(q, g.Scalar(name+"/scale", scale), graph.Named(name+"/q_scaled")), 1
	}
	scores := g.BatchMatMul(split(q, "q", bhsd), split(k, "k", bhsd), false, true, graph.Named(name+"/scores"))
	probs := g.Softmax(scores, graph.Beta(beta), graph.Named(name+"/probs"))
	var ctx *graph.Tensor
	if f.vTransposed {
		ctx = g.BatchMatMul(probs, split(v, "v", []int{0, 2, 3, 1}), false, true, graph.Named(name+"/context_bhsd"))
	} else {
		ctx = g.BatchMatMul(probs, split(v, "v", bhsd), false, false, graph.Named(name+"/context_bhsd"))
	}
	return g.Reshape(g.Transpose(ctx, bhsd, graph.Named(name+"/context_bshd")), []int{1, -1, d}, graph.Named(name+"/context"))
}

// fusedQKVAttention is self-attention with one [3D, D] projection (q rows pre-scaled by
// 1/√Dh), one RESHAPE to [1, S, 3H, Dh] and one TRANSPOSE to [1, 3H, S, Dh], then q, k and v
// cut out of the head axis with STRIDED_SLICE.
func fusedQKVAttention(g *graph.Graph, x *graph.Tensor, q, k, v, o Linear, heads int) *graph.Tensor {
	d := x.Dim(-1)
	dh := d / heads
	scale := float32(1 / math.Sqrt(float64(dh)))
	var w, bias []float32
	for i, l := range []Linear{q, k, v} {
		s := float32(1)
		if i == 0 {
			s = scale
		}
		for _, x := range l.W.Float32Data() {
			w = append(w, x*s)
		}
		for _, x := range l.B.Float32Data() {
			bias = append(bias, x*s)
		}
	}
	qkv := NewLinear(g, "qkv", w, 3*d, d, bias).Apply(g, "qkv", x)
	t := g.Transpose(g.Reshape(qkv, []int{1, -1, 3 * heads, dh}), []int{0, 2, 1, 3}, graph.Named("attn/qkv_t"))
	s := t.Dim(2)
	cut := func(i int, what string) *graph.Tensor {
		return g.StridedSlice(t, []int{0, i * heads, 0, 0}, []int{1, (i + 1) * heads, s, dh}, []int{1, 1, 1, 1}, graph.SliceMasks{}, graph.Named("attn/"+what))
	}
	scores := g.BatchMatMul(cut(0, "q"), cut(1, "k"), false, true, graph.Named("attn/scores"))
	probs := g.Softmax(scores, graph.Named("attn/probs"))
	ctx := g.BatchMatMul(probs, cut(2, "v"), false, false, graph.Named("attn/context_bhsd"))
	merged := g.Reshape(g.Transpose(ctx, []int{0, 2, 1, 3}, graph.Named("attn/context_bshd")), []int{1, -1, d}, graph.Named("attn/context"))
	return o.Apply(g, "o", merged)
}

// layerNormFCOnes takes the sums as FULLY_CONNECTED with a float16 constant of ones
// (dequantized, so it stays float at every precision) and divides by D with MUL.
func layerNormFCOnes(g *graph.Graph, name string, x, gamma, beta *graph.Tensor, eps float32) *graph.Tensor {
	d := x.Dim(-1)
	ones := make([]float32, d)
	for i := range ones {
		ones[i] = 1
	}
	w := g.Dequantize(g.ConstFloat16(name+"/ones", ones, 1, d), graph.Named(name+"/ones_f32"))
	inv := g.Scalar(name+"/inv_d", 1/float32(d))
	mean := g.Mul(g.FullyConnected(x, w, nil, graph.Named(name+"/sum")), inv, graph.Named(name+"/mean"))
	c := g.Sub(x, mean, graph.Named(name+"/centered"))
	v := g.Mul(g.FullyConnected(g.Mul(c, c, graph.Named(name+"/squared")), w, nil, graph.Named(name+"/sqsum")), inv, graph.Named(name+"/variance"))
	std := g.Sqrt(g.Add(v, g.Scalar(name+"/eps", eps), graph.Named(name+"/variance_eps")), graph.Named(name+"/std"))
	n := g.Div(c, std, graph.Named(name+"/normalized"))
	return g.Add(g.Mul(n, gamma, graph.Named(name+"/scaled")), beta, graph.Named(name))
}

// layerNormConverter is the layer norm as TensorFlow's converter lowers it (edged's first
// form): MEAN, SQUARED_DIFFERENCE, RSQRT.
func layerNormConverter(g *graph.Graph, name string, x, gamma, beta *graph.Tensor, eps float32) *graph.Tensor {
	mean := g.Mean(x, []int{-1}, true, graph.Named(name+"/mean"))
	variance := g.Mean(g.SquaredDifference(x, mean, graph.Named(name+"/sqdiff")), []int{-1}, true, graph.Named(name+"/variance"))
	inv := g.Rsqrt(g.Add(variance, g.Scalar(name+"/eps", eps), graph.Named(name+"/variance_eps")), graph.Named(name+"/rsqrt"))
	normed := g.Mul(g.Sub(x, mean, graph.Named(name+"/centered")), inv, graph.Named(name+"/normalized"))
	return g.Add(g.Mul(normed, gamma, graph.Named(name+"/scaled")), beta, graph.Named(name))
}

// layerNormMean4D takes the means with MEAN over axes 1 and 2 of a [rows, 1, D, 1] view, the
// only MEAN XNNPACK 2.9 takes, so the whole norm is delegated.
func layerNormMean4D(g *graph.Graph, name string, x, gamma, beta *graph.Tensor, eps float32) *graph.Tensor {
	d := x.Dim(-1)
	rows := g.Reshape(x, []int{-1, 1, d, 1}, graph.Named(name+"/rows"))
	mean := g.Mean(rows, []int{1, 2}, true, graph.Named(name+"/mean"))
	c := g.Sub(rows, mean, graph.Named(name+"/centered"))
	v := g.Mean(g.Mul(c, c, graph.Named(name+"/squared")), []int{1, 2}, true, graph.Named(name+"/variance"))
	std := g.Sqrt(g.Add(v, g.Scalar(name+"/eps", eps), graph.Named(name+"/variance_eps")), graph.Named(name+"/std"))
	n := g.Reshape(g.Div(c, std, graph.Named(name+"/normalized_rows")), x.Shape(), graph.Named(name+"/normalized"))
	return g.Add(g.Mul(n, gamma, graph.Named(name+"/scaled")), beta, graph.Named(name))
}

// calibrateOn runs g at fp32 with every activation observed on input x and returns their
// ranges.
func calibrateOn(b *testing.B, g *graph.Graph, x []float32) map[string]quant.Range {
	data, err := g.MarshalWith(graph.LowerOptions{Precision: graph.FP32, ObserveAll: true})
	if err != nil {
		b.Fatal(err)
	}
	model, err := tfl.Unmarshal(data)
	if err != nil {
		b.Fatal(err)
	}
	m, err := tflite.NewModel(data)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ip, err := tflite.NewInterpreter(m, tflite.Options{Threads: 1, Delegate: tflite.DelegateNone})
	if err != nil {
		b.Fatal(err)
	}
	defer ip.Close()
	if err := ip.Input(0).SetFloat32(x); err != nil {
		b.Fatal(err)
	}
	if err := ip.Invoke(); err != nil {
		b.Fatal(err)
	}
	sig := model.SignatureDefs[0]
	ranges := map[string]quant.Range{sig.Inputs[0].Name: rangeOf(x)}
	for i, o := range sig.Outputs {
		if v, err := ip.Output(i).Float32(); err == nil {
			ranges[o.Name] = rangeOf(v)
		}
	}
	return ranges
}

func rangeOf(v []float32) quant.Range {
	var o quant.MinMax
	o.Observe(v)
	r, _ := o.Range()
	return r
}

// median returns the median of ds in milliseconds.
func median(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2].Nanoseconds()) / 1e6
}

// BenchmarkBlocks compares the forms of each block; see the top of the file.
func BenchmarkBlocks(b *testing.B) {
	const d, heads, mlp = 768, 12, 3072
	opts := tflite.Options{Threads: *blockThreads, Delegate: tflite.DelegateXNNPack}
	for _, tokens := range []int{50, 577} {
		ln := func(f func(*graph.Graph, string, *graph.Tensor, *graph.Tensor, *graph.Tensor, float32) *graph.Tensor) func(*graph.Graph, *graph.Tensor) *graph.Tensor {
			return func(g *graph.Graph, x *graph.Tensor) *graph.Tensor {
				return f(g, "ln", x, g.Const("gamma", testutil.Randn(2, d, 0.1), d), g.Const("beta", testutil.Randn(3, d, 0.1), d), 1e-5)
			}
		}
		b.Run(fmt.Sprintf("layer_norm/%d", tokens), func(b *testing.B) {
			compareModels(b, []int{1, tokens, d}, opts, []modelVariant{
				{name: "last_axis_rsqrt", build: ln(layerNormConverter)},
				{name: "mean4d_sqrt_div", build: ln(layerNormMean4D)},
				{name: "fc_ones_sqrt_div", build: ln(layerNormFCOnes)},
				{name: "last_axis_sqrt_div", build: ln(LayerNorm)},
			})
		})
		attn := func(form attentionForm) func(*graph.Graph, *graph.Tensor) *graph.Tensor {
			return func(g *graph.Graph, x *graph.Tensor) *graph.Tensor {
				lin := func(name string, seed int64) Linear {
					return NewLinear(g, name, testutil.Randn(seed, d*d, 0.036), d, d, testutil.Randn(seed+1, d, 0.02))
				}
				if form.fusedQKV {
					return fusedQKVAttention(g, x, lin("q", 10), lin("k", 12), lin("v", 14), lin("o", 16), heads)
				}
				q, k, v := lin("q", 10).Apply(g, "q", x), lin("k", 12).Apply(g, "k", x), lin("v", 14).Apply(g, "v", x)
				return lin("o", 16).Apply(g, "o", attentionCore(g, "attn", q, k, v, heads, form))
			}
		}
		b.Run(fmt.Sprintf("attention/%d", tokens), func(b *testing.B) {
			compareModels(b, []int{1, tokens, d}, opts, []modelVariant{
				{name: "q_mul_v_bhsd", build: attn(attentionForm{})},
				{name: "q_mul_v_bhds", build: attn(attentionForm{vTransposed: true})},
				{name: "fused_qkv", build: attn(attentionForm{fusedQKV: true})},
				{name: "beta_v_bhsd", build: attn(attentionForm{scaleInSoftmax: true})},
				{name: "beta_v_bhds", build: attn(attentionForm{scaleInSoftmax: true, vTransposed: true})},
			})
		})
		b.Run(fmt.Sprintf("attention_int8/%d", tokens), func(b *testing.B) {
			keep := func(parts ...string) func(string, tfl.BuiltinOp) bool {
				return func(name string, _ tfl.BuiltinOp) bool {
					for _, p := range parts {
						if strings.Contains(name, p) {
							return true
						}
					}
					return false
				}
			}
			compareModels(b, []int{1, tokens, d}, opts, []modelVariant{
				{name: "legacy_all_int8", build: attn(attentionForm{}), int8: true},
				{name: "legacy_float_softmax", build: attn(attentionForm{}), int8: true, keep: keep("/probs")},
				{name: "legacy_float_core", build: attn(attentionForm{}), int8: true, keep: keep("attn/")},
				{name: "vT_float_softmax", build: attn(attentionForm{vTransposed: true}), int8: true, keep: keep("/probs")},
				{name: "fused_qkv_float_softmax", build: attn(attentionForm{fusedQKV: true}), int8: true, keep: keep("/probs")},
			})
		})
		b.Run(fmt.Sprintf("linear/%d", tokens), func(b *testing.B) {
			w, bias := testutil.Randn(20, mlp*d, 0.036), testutil.Randn(21, mlp, 0.02)
			fc := func(g *graph.Graph, x *graph.Tensor) *graph.Tensor {
				return NewLinear(g, "fc", w, mlp, d, bias).Apply(g, "y", x)
			}
			conv := func(g *graph.Graph, x *graph.Tensor) *graph.Tensor {
				r := g.Reshape(x, []int{1, 1, tokens, d})
				c := g.Conv2D(r, g.Const("fc.weight", w, mlp, 1, 1, d), g.Const("fc.bias", bias, mlp), graph.Conv2DParams{})
				return g.Reshape(c, []int{1, tokens, mlp})
			}
			compareModels(b, []int{1, tokens, d}, opts, []modelVariant{
				{name: "fc_fp32", build: fc},
				{name: "conv1x1_fp32", build: conv},
				{name: "fc_qs8", build: fc, int8: true},
				{name: "conv1x1_qc8", build: conv, int8: true},
			})
		})
		act := func(f func(*graph.Graph, string, *graph.Tensor) *graph.Tensor) func(*graph.Graph, *graph.Tensor) *graph.Tensor {
			return func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return f(g, "act", x) }
		}
		b.Run(fmt.Sprintf("gelu/%d", tokens), func(b *testing.B) {
			vs := []modelVariant{
				{name: "tflite_gelu", build: act(func(g *graph.Graph, n string, x *graph.Tensor) *graph.Tensor { return g.Gelu(x, false, graph.Named(n)) })},
				{name: "quick_gelu", build: act(QuickGELU)},
			}
			for _, f := range geluForms {
				vs = append(vs, modelVariant{name: strings.ReplaceAll(f.name, " ", "_"), build: act(f.build)})
			}
			compareModels(b, []int{1, tokens, mlp}, opts, vs)
		})
	}
}
