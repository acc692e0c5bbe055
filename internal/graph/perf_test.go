package graph_test

// Speed of transformer encoders at real size: a ViT-B/32-sized encoder (width 768,
// 12 heads, MLP 3072, 50 tokens) built with graph/nn and random weights of realistic scale,
// run at every precision and delegate side by side.
//
//	go test ./internal/graph -run '^$' -bench EncoderCompare -benchtime 20x -perf.layers 1
//	go test ./internal/graph -run '^$' -bench EncoderCompare -benchtime 10x -perf.layers 12 \
//	    -perf.variants fp32/xnnpack,int8/xnnpack-qs8
//
// BenchmarkEncoderCompare builds every variant first, then in each iteration invokes all of
// them once, in rotating order, so that a noisy machine slows them alike; it reports the
// median and least wall milliseconds of each as "<variant>_ms" and "<variant>_min_ms" (the
// least is the run other processes disturbed least) and, with -perf.threads 1, the median CPU
// milliseconds of the invoking thread as "<variant>_cpu_ms" (the figure to compare on a shared
// machine: it leaves out the time other processes held the core; with one thread TFLite and
// XNNPACK run on the caller). Delegation (operators and partitions) and the
// cosine of each variant's output to the fp32 baseline are logged. Timings are measured, never
// asserted.

import (
	"flag"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/internal/cputime"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/nn"
	"github.com/edged/edged/internal/graph/tfl"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/quant"
	"github.com/edged/edged/runtime/tflite"
)

var (
	perfLayers   = flag.Int("perf.layers", 1, "encoder layers in BenchmarkEncoderCompare (12 for ViT-B/32)")
	perfTokens   = flag.Int("perf.tokens", 50, "tokens in BenchmarkEncoderCompare (50 for ViT-B/32 at 224, 577 for BLIP at 384)")
	perfGELU     = flag.Bool("perf.gelu", false, "use exact GELU (BERT/BLIP) instead of quick GELU (CLIP)")
	perfThreads  = flag.String("perf.threads", "2", "interpreter threads in BenchmarkEncoderCompare; a comma-separated list (1,2) runs every variant at each, named <variant>@<threads>")
	perfVariants = flag.String("perf.variants", "", "comma-separated variants of BenchmarkEncoderCompare (empty: all); see perfVariantList")
	perfForms    = flag.String("perf.forms", "legacy,nn", "comma-separated block forms to compare: legacy (the TFLite-converter forms edged started with), nn (graph/nn's defaults), fc-only (the dense layers alone: the floor)")
	perfCalib    = flag.Int("perf.calib", 4, "random inputs to calibrate int8 variants on")
)

// encoderSpec is the shape of a pre-norm transformer encoder.
type encoderSpec struct {
	width, heads, mlp, tokens, layers int
	exactGELU                         bool // BERT/BLIP's erf GELU instead of CLIP's quick GELU
}

// vitB32 is CLIP ViT-B/32's vision tower at 224×224.
func vitB32(layers int) encoderSpec {
	return encoderSpec{width: 768, heads: 12, mlp: 3072, tokens: 50, layers: layers}
}

// layerWeights are one encoder layer's parameters, with CLIP's initialisation scales:
// attention weights N(0, width^-½), output projections N(0, width^-½·(2L)^-½), MLP input
// N(0, (2·width)^-½); biases N(0, 0.02); layer-norm gains U(0.8, 1.2), biases N(0, 0.05).
type layerWeights struct {
	ln1g, ln1b, ln2g, ln2b     []float32
	q, k, v, o, qb, kb, vb, ob []float32
	fc1, fc1b, fc2, fc2b       []float32
}

func randomLayer(s encoderSpec, seed int64) layerWeights {
	d, m := s.width, s.mlp
	attn := float32(1 / math.Sqrt(float64(d)))
	proj := attn / float32(math.Sqrt(float64(2*max(s.layers, 1))))
	fc := float32(1 / math.Sqrt(float64(2*d)))
	return layerWeights{
		ln1g: uniform(seed, d, 0.8, 1.2), ln1b: testutil.Randn(seed+1, d, 0.05),
		ln2g: uniform(seed+2, d, 0.8, 1.2), ln2b: testutil.Randn(seed+3, d, 0.05),
		q: testutil.Randn(seed+4, d*d, attn), k: testutil.Randn(seed+5, d*d, attn), v: testutil.Randn(seed+6, d*d, attn), o: testutil.Randn(seed+7, d*d, proj),
		qb: testutil.Randn(seed+8, d, 0.02), kb: testutil.Randn(seed+9, d, 0.02), vb: testutil.Randn(seed+10, d, 0.02), ob: testutil.Randn(seed+11, d, 0.02),
		fc1: testutil.Randn(seed+12, m*d, fc), fc1b: testutil.Randn(seed+13, m, 0.02),
		fc2: testutil.Randn(seed+14, d*m, proj), fc2b: testutil.Randn(seed+15, d, 0.02),
	}
}

// blockForms is how an encoder writes its blocks.
type blockForms struct {
	name      string
	layerNorm func(g *graph.Graph, name string, x, gamma, beta *graph.Tensor, eps float32) *graph.Tensor
	attention func(g *graph.Graph, name string, x *graph.Tensor, w nn.AttentionWeights, heads int) *graph.Tensor
	gelu      func(g *graph.Graph, name string, x *graph.Tensor) *graph.Tensor
	quickGELU func(g *graph.Graph, name string, x *graph.Tensor) *graph.Tensor
}

// nnForms are graph/nn's blocks as they are now.
var nnForms = blockForms{
	name:      "nn",
	layerNorm: nn.LayerNorm,
	attention: func(g *graph.Graph, name string, x *graph.Tensor, w nn.AttentionWeights, heads int) *graph.Tensor {
		return nn.Attention(g, name, x, x, w, heads, nn.AttentionOptions{})
	},
	gelu:      nn.GELU,
	quickGELU: nn.QuickGELU,
}

// legacyForms are the blocks graph/nn started with, written as TensorFlow's converter lowers
// them: MEAN/SQUARED_DIFFERENCE/RSQRT layer norm, TFLite's GELU kernel, attention with three
// projections and four TRANSPOSEs. Kept here as the baseline of the benchmarks.
var legacyForms = blockForms{
	name:      "legacy",
	layerNorm: legacyLayerNorm,
	attention: func(g *graph.Graph, name string, x *graph.Tensor, w nn.AttentionWeights, heads int) *graph.Tensor {
		q := w.Q.Apply(g, name+"/q_proj", x)
		k := w.K.Apply(g, name+"/k_proj", x)
		v := w.V.Apply(g, name+"/v_proj", x)
		return w.Out.Apply(g, name+"/out_proj", legacyMultiHeadAttention(g, name, q, k, v, heads))
	},
	gelu: func(g *graph.Graph, name string, x *graph.Tensor) *graph.Tensor {
		return g.Gelu(x, false, graph.Named(name))
	},
	quickGELU: func(g *graph.Graph, name string, x *graph.Tensor) *graph.Tensor {
		s := g.Logistic(g.Mul(x, g.Scalar(name+"/alpha", 1.702), graph.Named(name+"/scaled")), graph.Named(name+"/sigmoid"))
		return g.Mul(x, s, graph.Named(name))
	},
}

// fcOnlyForms keep only the dense layers (layer norms and activations are the identity,
// attention is its four projections in a chain): not a model, but the floor the other forms
// are measured against.
var fcOnlyForms = blockForms{
	name: "fc-only",
	layerNorm: func(g *graph.Graph, name string, x, gamma, beta *graph.Tensor, eps float32) *graph.Tensor {
		return x
	},
	attention: func(g *graph.Graph, name string, x *graph.Tensor, w nn.AttentionWeights, heads int) *graph.Tensor {
		h := w.Q.Apply(g, name+"/q_proj", x)
		h = w.K.Apply(g, name+"/k_proj", h)
		h = w.V.Apply(g, name+"/v_proj", h)
		return w.Out.Apply(g, name+"/out_proj", h)
	},
	gelu:      func(g *graph.Graph, name string, x *graph.Tensor) *graph.Tensor { return x },
	quickGELU: func(g *graph.Graph, name string, x *graph.Tensor) *graph.Tensor { return x },
}

func legacyLayerNorm(g *graph.Graph, name string, x, gamma, beta *graph.Tensor, eps float32) *graph.Tensor {
	mean := g.Mean(x, []int{-1}, true, graph.Named(name+"/mean"))
	variance := g.Mean(g.SquaredDifference(x, mean, graph.Named(name+"/sqdiff")), []int{-1}, true, graph.Named(name+"/variance"))
	inv := g.Rsqrt(g.Add(variance, g.Scalar(name+"/eps", eps), graph.Named(name+"/variance_eps")), graph.Named(name+"/rsqrt"))
	normed := g.Mul(g.Sub(x, mean, graph.Named(name+"/centered")), inv, graph.Named(name+"/normalized"))
	return g.Add(g.Mul(normed, gamma, graph.Named(name+"/scaled")), beta, graph.Named(name))
}

func legacyMultiHeadAttention(g *graph.Graph, name string, q, k, v *graph.Tensor, heads int) *graph.Tensor {
	d := q.Dim(-1)
	batch, dh := q.Dim(0), d/heads
	scale := float32(1 / math.Sqrt(float64(dh)))
	split := func(x *graph.Tensor, what string) *graph.Tensor {
		r := g.Reshape(x, []int{batch, -1, heads, dh}, graph.Named(name+"/"+what+"_heads"))
		return g.Transpose(r, []int{0, 2, 1, 3}, graph.Named(name+"/"+what+"_bhsd"))
	}
	qs := split(g.Mul(q, g.Scalar(name+"/scale", scale), graph.Named(name+"/q_scaled")), "q")
	ks, vs := split(k, "k"), split(v, "v")
	scores := g.BatchMatMul(qs, ks, false, true, graph.Named(name+"/scores"))
	probs := g.Softmax(scores, graph.Named(name+"/probs"))
	ctx := g.BatchMatMul(probs, vs, false, false, graph.Named(name+"/context_bhsd"))
	merged := g.Transpose(ctx, []int{0, 2, 1, 3}, graph.Named(name+"/context_bshd"))
	return g.Reshape(merged, []int{batch, -1, d}, graph.Named(name+"/context"))
}

// buildEncoder builds a pre-norm encoder (CLIP's vision layers): x + attn(ln1(x)), then
// + fc2(act(fc1(ln2(·)))). Tensors are named l<i>/ln1, l<i>/attn/..., l<i>/mlp/...
func buildEncoder(s encoderSpec, ws []layerWeights, f blockForms) *graph.Graph {
	g := graph.New("encoder")
	x := g.Input("x", graph.Float32, 1, s.tokens, s.width)
	d, m := s.width, s.mlp
	for i, w := range ws {
		p := fmt.Sprintf("l%d/", i)
		c := func(name string, data []float32, shape ...int) *graph.Tensor { return g.Const(p+name, data, shape...) }
		aw := nn.AttentionWeights{
			Q:   nn.Linear{W: c("q.weight", w.q, d, d), B: c("q.bias", w.qb, d)},
			K:   nn.Linear{W: c("k.weight", w.k, d, d), B: c("k.bias", w.kb, d)},
			V:   nn.Linear{W: c("v.weight", w.v, d, d), B: c("v.bias", w.vb, d)},
			Out: nn.Linear{W: c("o.weight", w.o, d, d), B: c("o.bias", w.ob, d)},
		}
		h := f.layerNorm(g, p+"ln1", x, c("ln1.weight", w.ln1g, d), c("ln1.bias", w.ln1b, d), 1e-5)
		x = g.Add(x, f.attention(g, p+"attn", h, aw, s.heads), graph.Named(p+"residual1"))
		h = f.layerNorm(g, p+"ln2", x, c("ln2.weight", w.ln2g, d), c("ln2.bias", w.ln2b, d), 1e-5)
		h = nn.Linear{W: c("fc1.weight", w.fc1, m, d), B: c("fc1.bias", w.fc1b, m)}.Apply(g, p+"mlp/fc1", h)
		if s.exactGELU {
			h = f.gelu(g, p+"mlp/act", h)
		} else {
			h = f.quickGELU(g, p+"mlp/act", h)
		}
		h = nn.Linear{W: c("fc2.weight", w.fc2, d, m), B: c("fc2.bias", w.fc2b, d)}.Apply(g, p+"mlp/fc2", h)
		x = g.Add(x, h, graph.Named(p+"residual2"))
	}
	g.Output("y", x)
	return g
}

// perfVariant is one way of lowering and running an encoder.
type perfVariant struct {
	name  string
	lower graph.LowerOptions
	run   tflite.Options
	// keep, at Int8Full, is the KeepFloat rule.
	keep func(string, tfl.BuiltinOp) bool
}

func perfVariantList(threads int) []perfVariant {
	none := tflite.Options{Threads: threads, Delegate: tflite.DelegateNone}
	xnn := tflite.Options{Threads: threads, Delegate: tflite.DelegateXNNPack}
	qs8 := tflite.Options{Threads: threads, Delegate: tflite.DelegateXNNPack, XNNPackQS8: true}
	lo := func(p graph.Precision) graph.LowerOptions { return graph.LowerOptions{Precision: p} }
	return []perfVariant{
		{name: "fp32/none", lower: lo(graph.FP32), run: none},
		{name: "fp32/xnnpack", lower: lo(graph.FP32), run: xnn},
		{name: "fp16/xnnpack", lower: lo(graph.FP16), run: xnn},
		{name: "int8-dynamic/none", lower: lo(graph.Int8Dynamic), run: none},
		{name: "int8-dynamic/xnnpack", lower: lo(graph.Int8Dynamic), run: xnn},
		{name: "int8-dynamic-pc/xnnpack", lower: graph.LowerOptions{Precision: graph.Int8Dynamic, PerChannelFC: true}, run: xnn},
		// Full int8 with calibrated ranges: layer norms in float (what fidelity needs) and
		// everything else int8; then softmax in float as well; then the rule the CLIP and BLIP
		// exporters use (layer norms, softmax and every ADD, i.e. the residual stream, in float).
		{name: "int8/none", lower: lo(graph.Int8Full), run: none, keep: keepNames("/ln")},
		{name: "int8/xnnpack-qs8", lower: lo(graph.Int8Full), run: qs8, keep: keepNames("/ln")},
		{name: "int8-sm/xnnpack-qs8", lower: lo(graph.Int8Full), run: qs8, keep: keepNames("/ln", "/probs")},
		{name: "int8-add/xnnpack-qs8", lower: lo(graph.Int8Full), run: qs8, keep: keepExporters},
	}
}

// keepNames keeps operators whose output name contains any of parts in float.
func keepNames(parts ...string) func(string, tfl.BuiltinOp) bool {
	return func(name string, _ tfl.BuiltinOp) bool {
		for _, p := range parts {
			if strings.Contains(name, p) {
				return true
			}
		}
		return false
	}
}

// keepExporters is the KeepFloat rule of the CLIP and BLIP exporters: layer norms (by name and
// by their converter-form operators), softmax, L2 normalisation and every ADD.
func keepExporters(name string, op tfl.BuiltinOp) bool {
	switch op {
	case tfl.OpMean, tfl.OpSquaredDifference, tfl.OpRsqrt, tfl.OpSoftmax, tfl.OpL2Normalization, tfl.OpAdd:
		return true
	}
	return strings.Contains(name, "/ln")
}

// session is a loaded model with an interpreter and a reusable output buffer.
type session struct {
	name  string
	model *tflite.Model
	ip    *tflite.Interpreter
	out   []float32
	times []time.Duration
	cpu   []time.Duration
	// threads the interpreter runs on; with 1 the invoking thread's CPU time is the work.
	threads int
}

func (s *session) close() {
	if s.ip != nil {
		s.ip.Close()
	}
	if s.model != nil {
		s.model.Close()
	}
}

func newSession(tb testing.TB, name string, model []byte, opts tflite.Options) *session {
	tb.Helper()
	m, err := tflite.NewModel(model)
	if err != nil {
		tb.Fatalf("%s: load: %v", name, err)
	}
	ip, err := tflite.NewInterpreter(m, opts)
	if err != nil {
		m.Close()
		tb.Fatalf("%s: interpreter: %v", name, err)
	}
	return &session{name: name, model: m, ip: ip, out: make([]float32, ip.Output(0).NumElements())}
}

// invoke runs the model on x and returns its first output (valid until the next call).
func (s *session) invoke(tb testing.TB, x []float32) []float32 {
	tb.Helper()
	if err := s.ip.Input(0).SetFloat32(x); err != nil {
		tb.Fatalf("%s: %v", s.name, err)
	}
	start, cpu := time.Now(), cputime.Thread()
	if err := s.ip.Invoke(); err != nil {
		tb.Fatalf("%s: invoke: %v", s.name, err)
	}
	s.cpu = append(s.cpu, cputime.Thread()-cpu)
	s.times = append(s.times, time.Since(start))
	if err := s.ip.Output(0).ReadFloat32(s.out); err != nil {
		tb.Fatalf("%s: %v", s.name, err)
	}
	return s.out
}

// calibrateEncoder runs g at fp32 with every activation observed on n random inputs and
// returns min/max ranges by tensor name.
func calibrateEncoder(tb testing.TB, g *graph.Graph, s encoderSpec, n int, threads int) map[string]quant.Range {
	tb.Helper()
	model, err := g.MarshalWith(graph.LowerOptions{Precision: graph.FP32, ObserveAll: true})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := tfl.Unmarshal(model)
	if err != nil {
		tb.Fatal(err)
	}
	sig := m.SignatureDefs[0]
	sess := newSession(tb, "calibration", model, tflite.Options{Threads: threads, Delegate: tflite.DelegateXNNPack})
	defer sess.close()
	observers := map[string]*quant.MinMax{}
	observe := func(name string, v []float32) {
		if observers[name] == nil {
			observers[name] = &quant.MinMax{}
		}
		if err := observers[name].Observe(v); err != nil {
			tb.Fatalf("observe %s: %v", name, err)
		}
	}
	for i := 0; i < n; i++ {
		x := testutil.Randn(int64(9000+i), s.tokens*s.width, 1)
		observe(sig.Inputs[0].Name, x)
		sess.invoke(tb, x)
		for j := 0; j < sess.ip.OutputCount(); j++ {
			o := sess.ip.Output(j)
			if o.Type() != tflite.Float32 {
				continue
			}
			v, err := o.Float32()
			if err != nil {
				tb.Fatal(err)
			}
			observe(sig.Outputs[j].Name, v)
		}
	}
	ranges := map[string]quant.Range{}
	for name, o := range observers {
		ranges[name], _ = o.Range()
	}
	return ranges
}

// medianMS returns the median of ds in milliseconds.
func medianMS(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2].Nanoseconds()) / 1e6
}

func selected(list string, name string) bool {
	if list == "" {
		return true
	}
	return slices.Contains(strings.Split(list, ","), name)
}

// BenchmarkEncoderCompare: see the top of the file.
func BenchmarkEncoderCompare(b *testing.B) {
	s := vitB32(*perfLayers)
	s.tokens, s.exactGELU = *perfTokens, *perfGELU
	ws := make([]layerWeights, s.layers)
	for i := range ws {
		ws[i] = randomLayer(s, int64(1000+100*i))
	}
	var forms []blockForms
	for _, f := range []blockForms{legacyForms, nnForms, fcOnlyForms} {
		if selected(*perfForms, f.name) {
			forms = append(forms, f)
		}
	}
	var sessions []*session
	defer func() {
		for _, s := range sessions {
			s.close()
		}
	}()
	x := testutil.Randn(77, s.tokens*s.width, 1)
	var reference []float32
	for _, f := range forms {
		g := buildEncoder(s, ws, f)
		if err := g.Err(); err != nil {
			b.Fatal(err)
		}
		var ranges map[string]quant.Range
		models := map[string][]byte{}
		var variants []perfVariant
		counts := strings.Split(*perfThreads, ",")
		for _, c := range counts {
			threads, err := strconv.Atoi(c)
			if err != nil || threads < 1 {
				b.Fatalf("-perf.threads %q: want thread counts like 1,2", *perfThreads)
			}
			for _, v := range perfVariantList(threads) {
				if !selected(*perfVariants, v.name) {
					continue
				}
				if len(counts) > 1 {
					v.name += "@" + c
				}
				variants = append(variants, v)
			}
		}
		for _, v := range variants {
			lo := v.lower
			if lo.Precision == graph.Int8Full {
				if ranges == nil {
					ranges = calibrateEncoder(b, g, s, *perfCalib, 1)
				}
				lo.Ranges, lo.KeepFloat = ranges, v.keep
			}
			key := fmt.Sprintf("%v/%v/%s", lo.Precision, lo.PerChannelFC, strings.Split(v.name, "/")[0])
			model, ok := models[key]
			if !ok {
				var err error
				if model, err = g.MarshalWith(lo); err != nil {
					b.Fatalf("%s %s: %v", f.name, v.name, err)
				}
				models[key] = model
			}
			name := f.name + ":" + v.name
			sess := newSession(b, name, model, v.run)
			sess.threads = v.run.Threads
			sessions = append(sessions, sess)
			out := sess.invoke(b, x) // warm-up; XNNPACK packs weights here
			if reference == nil {
				reference = append([]float32(nil), out...)
			}
			d := sess.ip.Delegation()
			b.Logf("%-32s %6.1f MB  %v  cosine to %s %.6f", name, float64(len(model))/1e6, d, sessions[0].name, testutil.Cosine(out, reference))
		}
		models = nil
		runtime.GC()
		debug.FreeOSMemory()
	}
	for _, sess := range sessions {
		sess.times, sess.cpu = sess.times[:0], sess.cpu[:0]
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range sessions {
			sessions[(i+j)%len(sessions)].invoke(b, x)
		}
	}
	b.StopTimer()
	for _, sess := range sessions {
		name := strings.ReplaceAll(sess.name, "/", "|")
		b.ReportMetric(medianMS(sess.times), name+"_ms")
		b.ReportMetric(float64(slices.Min(sess.times).Nanoseconds())/1e6, name+"_min_ms")
		if sess.threads == 1 {
			b.ReportMetric(medianMS(sess.cpu), name+"_cpu_ms")
		}
	}
}
