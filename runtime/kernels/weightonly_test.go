package kernels_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/tfl"
	"github.com/edged/edged/runtime/kernels"
	"github.com/edged/edged/runtime/tflite"
)

// wfcCase is one weight-only FULLY_CONNECTED: float input [lead..., k], int8 weights [n, k]
// with one scale per tensor or per output channel (zero points 0) through a DEQUANTIZE, an
// optional float bias, float output.
type wfcCase struct {
	lead        []int
	n, k        int
	q           []int8
	scales      []float32 // 1 or n
	bias        []float32
	x           []float32
	act         tfl.Activation
	keepNumDims bool
}

func (c wfcCase) String() string {
	return fmt.Sprintf("x%v×%d, w %d×%d with %d scale(s), bias=%v, act=%v, keep=%v",
		c.lead, c.k, c.n, c.k, len(c.scales), c.bias != nil, c.act, c.keepNumDims)
}

func (c wfcCase) rows() int {
	r := 1
	for _, d := range c.lead {
		r *= d
	}
	return r
}

func randFloats(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * scale)
	}
	return v
}

func randomWFC(r *rand.Rand, lead []int, n, k int, perChannel bool) wfcCase {
	c := wfcCase{lead: lead, n: n, k: k, q: randInt8(r, n*k)}
	ns := 1
	if perChannel {
		ns = n
	}
	for range ns {
		c.scales = append(c.scales, float32(1e-4+r.Float64()*0.05))
	}
	if r.IntN(4) != 0 {
		c.bias = randFloats(r, n, 1)
	}
	c.x = randFloats(r, c.rows()*k, 1)
	c.act = []tfl.Activation{tfl.ActNone, tfl.ActNone, tfl.ActRelu, tfl.ActRelu6, tfl.ActReluN1To1}[r.IntN(5)]
	c.keepNumDims = len(lead) > 1 && r.IntN(2) == 0
	return c
}

func (c wfcCase) quant() graph.Quant {
	return graph.Quant{Scale: c.scales, ZeroPoint: make([]int64, len(c.scales))}
}

func (c wfcCase) model(t testing.TB) []byte {
	t.Helper()
	g := graph.New("wfc")
	x := g.Input("x", graph.Float32, append(append([]int(nil), c.lead...), c.k)...)
	w := g.Dequantize(g.QuantizedConst("w", c.q, c.quant(), c.n, c.k))
	var b *graph.Tensor
	if c.bias != nil {
		b = g.Const("b", c.bias, c.n)
	}
	g.Output("y", g.FullyConnected(x, w, b, graph.Fused(c.act), graph.KeepNumDims(c.keepNumDims)))
	data, err := g.Marshal()
	if err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	return data
}

// weight is TFLite's DEQUANTIZE of weight (o, i).
func (c wfcCase) weight(o, i int) float32 {
	s := c.scales[0]
	if len(c.scales) > 1 {
		s = c.scales[o]
	}
	return float32(float64(s) * float64(c.q[o*c.k+i]))
}

// sumOrderBound is how far two float32 sums of the same k products and a bias may be apart
// when only their order differs: each is within γ(k+1)·(Σ|x·w| + |b|) of the exact value,
// γ(n) = n·u/(1 − n·u), u = 2⁻²⁴ (the classic bound for recursive summation, any order; an
// FMA only lowers it). The activations' clamps cannot widen the gap.
func sumOrderBound(k int, absSum float64) float64 {
	const u = 1.0 / (1 << 24)
	nu := float64(k+1) * u
	return 2 * nu / (1 - nu) * absSum
}

// compareWFC checks got against TFLite's want within sumOrderBound of each output, and
// returns the largest difference relative to the bound.
func compareWFC(t *testing.T, what string, c wfcCase, got, want []float32) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s, %v: %d values, TFLite %d", what, c, len(got), len(want))
	}
	worst, bad := 0.0, 0
	for m := range c.rows() {
		for o := range c.n {
			abs := 0.0
			if c.bias != nil {
				abs = math.Abs(float64(c.bias[o]))
			}
			for i := range c.k {
				abs += math.Abs(float64(c.x[m*c.k+i]) * float64(c.weight(o, i)))
			}
			bound := sumOrderBound(c.k, abs)
			d := math.Abs(float64(got[m*c.n+o]) - float64(want[m*c.n+o]))
			if bound > 0 {
				worst = max(worst, d/bound)
			}
			if !(d <= bound) {
				bad++
				if bad <= 3 {
					t.Errorf("%s, %v: row %d column %d: %g, TFLite %g (|diff| %.3g > bound %.3g)",
						what, c, m, o, got[m*c.n+o], want[m*c.n+o], d, bound)
				}
			}
		}
	}
	return worst
}

// TestWeightOnlyEqualsTFLite: a float FULLY_CONNECTED on the DEQUANTIZE of int8 weights (as
// convert writes int8-dynamic) is taken whole by every kernel this CPU runs, the DEQUANTIZE
// with it, and gives TFLite's own results (delegate none, kernels off: the float weights
// dequantized, TFLite's float kernel) up to the order of the sums (sumOrderBound), on random
// shapes: odd sizes, one row and many, per-channel and per-tensor scales, with and without
// bias, each fused activation, 1 to 3 threads.
func TestWeightOnlyEqualsTFLite(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 11))
	shapes := []struct {
		lead []int
		n, k int
	}{
		{[]int{1}, 1, 1}, {[]int{1}, 16, 16}, {[]int{3}, 5, 7}, {[]int{1, 7}, 17, 33},
		{[]int{2, 6}, 64, 96}, {[]int{13}, 65, 100}, {[]int{1, 1}, 768, 768}, {[]int{7}, 31, 3},
		{[]int{1, 17}, 200, 15}, {[]int{97}, 47, 130}, {[]int{9}, 128, 64}, {[]int{3}, 80, 3072},
		{[]int{1, 35}, 50, 768}, {[]int{2}, 1000, 40},
	}
	worst := 0.0
	for i, s := range shapes {
		c := randomWFC(r, s.lead, s.n, s.k, i%2 == 0)
		model := c.model(t)
		out, _ := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Off}, nil, c.x)
		want := out[0].([]float32)
		for _, k := range kernels.Available() {
			for _, threads := range []int{1, 2, 3} {
				out, d := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: threads, Kernels: k}, nil, c.x)
				if d.KernelNodes != 2 || d.Kernels != k {
					t.Fatalf("%s, %v: %v, want the DEQUANTIZE and the FULLY_CONNECTED taken", k, c, d)
				}
				worst = max(worst, compareWFC(t, fmt.Sprintf("%s, %d threads", k, threads), c, out[0].([]float32), want))
			}
		}
	}
	t.Logf("largest difference: %.3g of the bound", worst)
}

// TestWeightOnlySharedAndChained: weights read by two FULLY_CONNECTED are taken with both, and
// with a GATHER of their rows (an embedding table tied to a decoder's output layer);
// weights also read by another operator stay with TFLite (it needs the float tensor), their
// FULLY_CONNECTED too; a chain of taken operators (one's output read only by the next, inside
// a partition), an operator taken in another partition than the DEQUANTIZE of its weights
// (an operator of TFLite's between), and a resize of the input (TFLite applies the delegate
// again) give TFLite's results. The values are small multiples of powers of two, so that every sum is exact in
// float32 whatever its order: the results must be TFLite's to the bit.
func TestWeightOnlySharedAndChained(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 12))
	const k, h, n = 40, 24, 9
	pow2 := func(count int, exps ...int) []float32 { // one of 2^-e for each channel
		s := make([]float32, count)
		for i := range s {
			s[i] = float32(math.Ldexp(1, -exps[r.IntN(len(exps))]))
		}
		return s
	}
	ints := func(count, lim int) []float32 {
		v := make([]float32, count)
		for i := range v {
			v[i] = float32(r.IntN(2*lim+1) - lim)
		}
		return v
	}
	small := make([]int8, n*h)
	for i := range small {
		small[i] = int8(r.IntN(17) - 8)
	}
	g := graph.New("shared")
	x := g.Input("x", graph.Float32, 3, k)
	dq := func(name string, q []int8, scales []float32, rows, cols int) *graph.Tensor {
		return g.Dequantize(g.QuantizedConst(name, q, graph.Quant{Scale: scales, ZeroPoint: make([]int64, len(scales))}, rows, cols))
	}
	w1 := dq("w1", randInt8(r, h*k), pow2(h, 6, 7), h, k) // x · w1: multiples of 2^-7, |·| ≤ 160
	w2 := dq("w2", small, pow2(1, 3), n, h)               // 2·h1 · w2: multiples of 2^-10, |·| ≤ 7728
	w3 := dq("w3", randInt8(r, n*k), pow2(n, 6), n, k)
	const vocab = 30
	emb := dq("emb", randInt8(r, vocab*k), pow2(vocab, 6, 7), vocab, k)
	b1 := ints(h, 3)
	for i := range b1 {
		b1[i] /= 128
	}
	two := g.Const("two", []float32{2}, 1)
	h1 := g.FullyConnected(x, w1, g.Const("b1", b1, h), graph.Fused(tfl.ActRelu))
	g.Output("y0", g.FullyConnected(h1, w2, nil))
	g.Output("y1", g.FullyConnected(g.Mul(h1, two), w2, nil))
	g.Output("y2", g.FullyConnected(x, w1, nil))
	g.Output("y3", g.FullyConnected(x, w3, nil))
	g.Output("w3x2", g.Mul(w3, two)) // another reader of w3
	g.Output("rows", g.Gather(emb, g.ConstInt32("ids", []int32{0, 29, 7, 7, 12, 3}, 2, 3), 0))
	g.Output("logits", g.FullyConnected(x, emb, nil))
	model, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, rows := range []int{3, 11} {
		xs := ints(rows*k, 4)
		var shape []int
		if rows != 3 {
			shape = []int{rows, k}
		}
		want, _ := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Off}, shape, xs)
		for _, kern := range kernels.Available() {
			got, d := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 2, Kernels: kern}, shape, xs)
			// w1's, w2's and emb's DEQUANTIZE, the five FULLY_CONNECTED reading them and
			// the GATHER, in two partitions (one after the MUL); not w3's DEQUANTIZE nor its
			// FULLY_CONNECTED.
			if d.KernelNodes != 9 || d.KernelPartitions != 2 {
				t.Fatalf("%s: %v, want 9 operators taken in 2 partitions", kern, d)
			}
			t.Logf("%s, %d rows: %v", kern, rows, d)
			for i := range want {
				if diff := firstDiff(got[i].([]float32), want[i].([]float32)); diff != "" {
					t.Errorf("%s, %d rows, output %d: %s", kern, rows, i, diff)
				}
			}
		}
	}
}

// TestWeightOnlyGatherOutOfRange: a GATHER index outside the table is an error of Invoke, as
// with TFLite's own GATHER, not a read outside the weights.
func TestWeightOnlyGatherOutOfRange(t *testing.T) {
	g := graph.New("gather")
	ids := g.Input("ids", graph.Int32, 2)
	emb := g.Dequantize(g.QuantizedConst("emb", make([]int8, 5*4), graph.PerTensor(0.5, 0), 5, 4))
	g.Output("rows", g.Gather(emb, ids, 0))
	g.Output("y", g.FullyConnected(g.Const("x", make([]float32, 4), 1, 4), emb, nil))
	model, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m, err := tflite.NewModel(model)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ip, err := tflite.NewInterpreter(m, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Available()[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	if d := ip.Delegation(); d.KernelNodes != 3 {
		t.Fatalf("%v, want the DEQUANTIZE, the GATHER and the FULLY_CONNECTED taken", d)
	}
	for _, c := range []struct {
		ids []int32
		ok  bool
	}{{[]int32{0, 4}, true}, {[]int32{5, 0}, false}, {[]int32{1, -1}, false}} {
		if err := ip.Input(0).SetInt32(c.ids); err != nil {
			t.Fatal(err)
		}
		if err := ip.Invoke(); (err == nil) != c.ok {
			t.Errorf("indices %v: Invoke error %v, want error %v", c.ids, err, !c.ok)
		}
	}
}
