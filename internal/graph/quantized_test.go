package graph_test

import (
	"math"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/tfl"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/quant"
)

// weightsWithSpread returns [out, in] weights whose rows differ in magnitude by 10^4, so that
// per-tensor quantization would wipe out the small rows: only per-channel scales pass the tests.
func weightsWithSpread(seed int64, out, in int) []float32 {
	w := testutil.Randn(seed, out*in, 0.3)
	for o := 0; o < out; o++ {
		f := float32(math.Pow(10, float64(o%3)*2-2)) // 0.01, 1, 100
		for i := 0; i < in; i++ {
			w[o*in+i] *= f
		}
	}
	return w
}

// findTensor returns the tensor of the first subgraph with the given name.
func findTensor(t *testing.T, m *tfl.Model, name string) tfl.Tensor {
	t.Helper()
	for _, tn := range m.Subgraphs[0].Tensors {
		if tn.Name == name {
			return tn
		}
	}
	t.Fatalf("no tensor %q in the model", name)
	return tfl.Tensor{}
}

// rowStep is the int8 step of TFLite's asymmetric per-row input quantization: the row's range
// widened to contain 0, over 255 steps.
func rowStep(x []float32) float64 {
	lo, hi := 0.0, 0.0
	for _, v := range x {
		lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
	}
	return (hi - lo) / 255
}

// skipHybridFCOnDotProd skips a test that runs TFLite 2.9's hybrid FULLY_CONNECTED on an
// arm64 core with the int8 dot-product instruction: the linux_arm64 library's kernel for that
// case never ends its loop and crashes the process (found under qemu, Cortex-A76). edged never
// emits the hybrid form (convert.Lowering); this test pins the kernel's maths elsewhere.
func skipHybridFCOnDotProd(t *testing.T) {
	if runtime.GOARCH == "arm64" && cpu.ARM64.HasASIMDDP {
		t.Skip("TFLite 2.9's arm64 hybrid FULLY_CONNECTED dot-product kernel crashes on this core")
	}
}

func TestDynamicRangeFullyConnected(t *testing.T) {
	skipHybridFCOnDotProd(t)
	const rows, in, out = 4, 48, 6
	w, b := testutil.Randn(200, out*in, 0.3), testutil.Randn(201, out, 0.1)
	x := testutil.Randn(202, rows*in, 1)
	x[5] = 4 // a row with a wider range than the others
	g := graph.New("hybrid_fc")
	xt := g.Input("x", graph.Float32, 2, 2, in)
	g.Output("y", g.FullyConnected(xt, g.Const("w", w, out, in), g.Const("b", b, out)))
	model, err := g.MarshalAs(graph.Int8Dynamic)
	if err != nil {
		t.Fatal(err)
	}

	// The file holds per-tensor int8 weights and a hybrid FC with asymmetric inputs.
	m, err := tfl.Unmarshal(model)
	if err != nil {
		t.Fatal(err)
	}
	wt := findTensor(t, m, "w")
	if wt.Type != tfl.Int8 || wt.Quantization == nil || len(wt.Quantization.Scale) != 1 {
		t.Fatalf("weight tensor %+v, want INT8 with one scale", wt)
	}
	fc := m.Subgraphs[0].Operators[0]
	if opts := fc.Options.(*tfl.FullyConnectedOptions); !opts.AsymmetricQuantizeInputs {
		t.Fatal("hybrid FULLY_CONNECTED without asymmetric_quantize_inputs")
	}
	if v := m.OperatorCodes[fc.OpcodeIndex].Version; v != 9 {
		t.Fatalf("FULLY_CONNECTED version %d, want 9 (hybrid, asymmetric inputs)", v)
	}

	// Reference: float maths with the dequantized int8 weights. The hybrid kernel adds one
	// error: each input row is quantized to int8, so each input is off by at most one step
	// (half a step from rounding, half from nudging the zero point to an integer). The bound
	// per output is therefore Σ_k |w_ok|·step(row) plus float rounding.
	v, scale, err := quant.SymmetricPerTensor(w)
	if err != nil {
		t.Fatal(err)
	}
	wdq := quant.Params{Scale: scale, QMin: -127, QMax: 127}.DequantizeInt8(v)
	want := refLinear(x, rows, in, wdq, out, b)
	for _, d := range delegates {
		got := run(t, model, d, x)[0].([]float32)
		for r := 0; r < rows; r++ {
			step := rowStep(x[r*in : (r+1)*in])
			for o := 0; o < out; o++ {
				bound := 1e-5
				for k := 0; k < in; k++ {
					bound += math.Abs(float64(wdq[o*in+k])) * step
				}
				i := r*out + o
				if diff := math.Abs(float64(got[i] - want[i])); diff > bound {
					t.Fatalf("%s: row %d channel %d: got %v, want %v (|diff| %.3g > bound %.3g)", d, r, o, got[i], want[i], diff, bound)
				}
			}
		}
	}
}

// TestPerChannelFullyConnected lowers with PerChannelFC: int8 weights with one scale per output
// channel, dequantized at load, float FULLY_CONNECTED. The rows of w differ by 10^4 in
// magnitude, so per-tensor scales would zero the small rows and fail the tolerance.
func TestPerChannelFullyConnected(t *testing.T) {
	const rows, in, out = 3, 40, 6
	w, b := weightsWithSpread(240, out, in), testutil.Randn(241, out, 0.01)
	x := testutil.Randn(242, rows*in, 1)
	g := graph.New("per_channel_fc")
	xt := g.Input("x", graph.Float32, rows, in)
	g.Output("y", g.FullyConnected(xt, g.Const("w", w, out, in), g.Const("b", b, out)))
	model, err := g.MarshalWith(graph.LowerOptions{Precision: graph.Int8Dynamic, PerChannelFC: true})
	if err != nil {
		t.Fatal(err)
	}
	m, err := tfl.Unmarshal(model)
	if err != nil {
		t.Fatal(err)
	}
	if wt := findTensor(t, m, "w"); wt.Type != tfl.Int8 || len(wt.Quantization.Scale) != out {
		t.Fatalf("weight stored as %v with %d scales, want INT8 with %d", wt.Type, len(wt.Quantization.Scale), out)
	}
	cw, _ := quant.SymmetricPerChannel(w, []int{out, in}, 0)
	wdq, _ := cw.Dequantize([]int{out, in})
	want := refLinear(x, rows, in, wdq, out, b)
	for _, d := range delegates {
		// DEQUANTIZE is exact, the FULLY_CONNECTED a float32 dot product of 40 terms.
		compare(t, d.name, run(t, model, d, x), []any{want}, 1e-6, tolDot, 0)
	}
	// And the result is close to the unquantized layer: half a step of each row's scale per
	// weight, Σ_k |x_k|·scale_o/2.
	exact := refLinear(x, rows, in, w, out, b)
	got := run(t, model, delegates[0], x)[0].([]float32)
	for r := 0; r < rows; r++ {
		for o := 0; o < out; o++ {
			bound := 1e-5
			for k := 0; k < in; k++ {
				bound += math.Abs(float64(x[r*in+k])) * float64(cw.Scales[o]) / 2
			}
			if diff := math.Abs(float64(got[r*out+o] - exact[r*out+o])); diff > bound {
				t.Fatalf("row %d channel %d: %v vs float %v (|diff| %.3g > %.3g)", r, o, got[r*out+o], exact[r*out+o], diff, bound)
			}
		}
	}
}

// TestPerChannelFCRejected: TFLite 2.9 silently outputs zeros for a FULLY_CONNECTED with
// per-channel int8 weights, so the builder refuses to make one.
func TestPerChannelFCRejected(t *testing.T) {
	cw, _ := quant.SymmetricPerChannel(weightsWithSpread(250, 3, 4), []int{3, 4}, 0)
	q := graph.Quant{Scale: cw.Scales, ZeroPoint: make([]int64, 3)}
	for _, in := range []graph.DType{graph.Float32, graph.Int8} {
		g := graph.New("bad")
		var x *graph.Tensor
		if in == graph.Int8 {
			x = g.QuantizedInput("x", graph.Int8, graph.PerTensor(0.1, 0), 2, 4)
		} else {
			x = g.Input("x", graph.Float32, 2, 4)
		}
		y := g.FullyConnected(x, g.QuantizedConst("w", cw.Values, q, 3, 4), nil, graph.OutQuant(graph.PerTensor(1, 0)))
		if y != nil || g.Err() == nil || !strings.Contains(g.Err().Error(), "per-tensor int8 weight scales only") {
			t.Fatalf("%v input: got %v, error %v", in, y, g.Err())
		}
	}
}

// TestDynamicRangeConv2D: CONV_2D's hybrid kernel takes per-channel int8 filters (version 5)
// and quantizes each input image symmetrically: each input is off by at most one step
// max|x|/127, so each output by at most Σ|f|·step.
func TestDynamicRangeConv2D(t *testing.T) {
	x := testutil.Randn(260, 1*8*8*3, 1)
	f := testutil.Randn(261, 4*4*4*3, 0.2)
	for i := 0; i < 4*4*3; i++ { // output channel 0 is 100x smaller than the others
		f[i] *= 0.01
	}
	bias := testutil.Randn(262, 4, 0.1)
	g := graph.New("hybrid_conv")
	in := g.Input("x", graph.Float32, 1, 8, 8, 3)
	g.Output("y", g.Conv2D(in, g.Const("f", f, 4, 4, 4, 3), g.Const("b", bias, 4), graph.Conv2DParams{StrideH: 4, StrideW: 4, Padding: tfl.PaddingValid}))
	model, err := g.MarshalAs(graph.Int8Dynamic)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tfl.Unmarshal(model)
	if err != nil {
		t.Fatal(err)
	}
	if ft := findTensor(t, m, "f"); ft.Type != tfl.Int8 || len(ft.Quantization.Scale) != 4 {
		t.Fatalf("filter stored as %v with %d scales, want INT8 per channel", ft.Type, len(ft.Quantization.Scale))
	}
	cw, _ := quant.SymmetricPerChannel(f, []int{4, 4, 4, 3}, 0)
	fdq, _ := cw.Dequantize([]int{4, 4, 4, 3})
	want, _ := refConv2D(x, []int{1, 8, 8, 3}, fdq, []int{4, 4, 4, 3}, bias, 4, false)
	maxAbs := 0.0
	for _, v := range x {
		maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
	}
	step := maxAbs / 127
	for _, d := range delegates {
		got := run(t, model, d, x)[0].([]float32)
		for i := range want {
			o := i % 4
			bound := 1e-5
			for _, v := range fdq[o*48 : (o+1)*48] {
				bound += math.Abs(float64(v)) * step
			}
			if diff := math.Abs(float64(got[i] - want[i])); diff > bound {
				t.Fatalf("%s: output %d (channel %d): %v, want %v (|diff| %.3g > %.3g)", d, i, o, got[i], want[i], diff, bound)
			}
		}
	}
}

func TestFullInt8FullyConnected(t *testing.T) {
	const rows, in, out = 3, 32, 5
	xf := uniform(210, rows*in, -1, 3)
	wf, bf := testutil.Randn(211, out*in, 0.3), testutil.Randn(212, out, 0.5)

	px, _ := quant.Int8Params(-1, 3)
	xq, _ := px.QuantizeInt8(xf)
	// Per-tensor weights: TFLite 2.9's FULLY_CONNECTED has no per-channel int8 kernel.
	wq, ws, _ := quant.SymmetricPerTensor(wf)
	cw := quant.ChannelWeights{Values: wq, Scales: []float32{ws}, Axis: 0}
	bq, bScales, _ := quant.Bias(bf, px.Scale, cw.Scales)
	wdq := quant.Params{Scale: ws, QMin: -127, QMax: 127}.DequantizeInt8(wq)
	// Output range from the float result, as calibration would find it.
	yf := refLinear(px.DequantizeInt8(xq), rows, in, wdq, out, bf)
	lo, hi := float32(0), float32(0)
	for _, v := range yf {
		lo, hi = min(lo, v), max(hi, v)
	}
	py, _ := quant.Int8Params(lo, hi)

	g := graph.New("int8_fc")
	xt := g.QuantizedInput("x", graph.Int8, graph.PerTensor(px.Scale, int64(px.ZeroPoint)), rows, in)
	wt := g.QuantizedConst("w", cw.Values, graph.PerTensor(ws, 0), out, in)
	bt := g.QuantizedConst("b", bq, graph.PerTensor(bScales[0], 0), out)
	y := g.FullyConnected(xt, wt, bt, graph.OutQuant(graph.PerTensor(py.Scale, int64(py.ZeroPoint))))
	g.Output("y", y)
	model, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}

	// Reference in integers: acc = Σ (qx - zx)·qw + qb is exact; the rescale by
	// sx·sw[o]/sy to the output grid is done by TFLite in 32-bit fixed point, which can land
	// one step away from float64 rounding at ties: tolerance ±1.
	want := make([]int8, rows*out)
	for r := 0; r < rows; r++ {
		for o := 0; o < out; o++ {
			acc := int64(bq[o])
			for k := 0; k < in; k++ {
				acc += int64(int32(xq[r*in+k])-px.ZeroPoint) * int64(cw.Values[o*in+k])
			}
			real := float64(acc) * float64(px.Scale) * float64(ws)
			q := math.Round(real/float64(py.Scale)) + float64(py.ZeroPoint)
			want[r*out+o] = int8(math.Max(-128, math.Min(127, q)))
		}
	}
	for _, d := range int8Delegates {
		got := run(t, model, d, xq)
		compare(t, d.name, got, []any{want}, 0, 0, 1)
	}
	if dl := delegation[t.Name()+" xnnpack-qs8"]; !dl.Full() {
		t.Logf("XNNPACK with QS8 took %v", dl)
	}
}

// TestFP16Weights lowers weights used by FULLY_CONNECTED, BATCH_MATMUL (constant operand)
// and GATHER to float16 + DEQUANTIZE and checks the result against float16-rounded weights.
func TestFP16Weights(t *testing.T) {
	const in, out, vocab = 16, 8, 10
	w, b := testutil.Randn(220, out*in, 0.3), testutil.Randn(221, out, 0.1)
	table := testutil.Randn(222, vocab*in, 1)
	proj := testutil.Randn(223, in*out, 0.3)
	ids := []int32{1, 4, 9}

	g := graph.New("fp16")
	idt := g.Input("ids", graph.Int32, 1, 3)
	emb := g.Gather(g.Const("table", table, vocab, in), idt, 0)
	fc := g.FullyConnected(emb, g.Const("w", w, out, in), g.Const("b", b, out))
	bm := g.BatchMatMul(emb, g.Const("proj", proj, 1, in, out), false, false)
	g.Output("fc", fc)
	g.Output("bmm", bm)
	model, err := g.MarshalAs(graph.FP16)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tfl.Unmarshal(model)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"w", "table", "proj"} {
		if tn := findTensor(t, m, name); tn.Type != tfl.Float16 {
			t.Fatalf("weight %q stored as %v, want FLOAT16", name, tn.Type)
		}
	}
	if tn := findTensor(t, m, "b"); tn.Type != tfl.Float32 {
		t.Fatalf("bias stored as %v, want FLOAT32", tn.Type)
	}
	m32, err := g.Lower(graph.LowerOptions{Precision: graph.FP32})
	if err != nil {
		t.Fatal(err)
	}
	// Each weight element shrinks from 4 to 2 bytes; the bias stays float32.
	if got, want := bufferBytes(m), bufferBytes(m32)-2*(out*in+vocab*in+in*out); got != want {
		t.Fatalf("fp16 buffers hold %d bytes, want %d", got, want)
	}

	half := func(v []float32) []float32 { bits, _ := quant.Float16(v); return quant.FromFloat16(bits) }
	w16, t16, p16 := half(w), half(table), half(proj)
	var e []float32
	for _, id := range ids {
		e = append(e, t16[int(id)*in:(int(id)+1)*in]...)
	}
	wantFC := refLinear(e, 3, in, w16, out, b)
	wantBM, _ := refMatMul(e, []int{1, 3, in}, p16, []int{1, in, out}, false, false)
	for _, d := range delegates {
		got := run(t, model, d, ids)
		compare(t, d.name, got, []any{wantFC, wantBM}, tolDot, tolDot, 0)
	}
}

// TestDynamicRangeDequantizedUses checks the int8-dynamic lowering of weights that no hybrid
// kernel reads (a GATHER table, a BATCH_MATMUL operand): int8 per-channel + DEQUANTIZE.
func TestDynamicRangeDequantizedUses(t *testing.T) {
	const in, out, vocab = 16, 8, 10
	table, proj := testutil.Randn(230, vocab*in, 1), testutil.Randn(231, in*out, 0.3)
	ids := []int32{0, 7, 3, 3}
	g := graph.New("int8_dequantized")
	idt := g.Input("ids", graph.Int32, 4)
	emb := g.Gather(g.Const("table", table, vocab, in), idt, 0)
	g.Output("y", g.BatchMatMul(emb, g.Const("proj", proj, in, out), false, false))
	model, err := g.MarshalAs(graph.Int8Dynamic)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tfl.Unmarshal(model)
	if err != nil {
		t.Fatal(err)
	}
	if tn := findTensor(t, m, "table"); tn.Type != tfl.Int8 || len(tn.Quantization.Scale) != vocab {
		t.Fatalf("table stored as %v with %d scales, want INT8 per row", tn.Type, len(tn.Quantization.Scale))
	}
	ct, _ := quant.SymmetricPerChannel(table, []int{vocab, in}, 0)
	cp, _ := quant.SymmetricPerChannel(proj, []int{in, out}, 0)
	tdq, _ := ct.Dequantize([]int{vocab, in})
	pdq, _ := cp.Dequantize([]int{in, out})
	var e []float32
	for _, id := range ids {
		e = append(e, tdq[int(id)*in:(int(id)+1)*in]...)
	}
	want, _ := refMatMul(e, []int{4, in}, pdq, []int{in, out}, false, false)
	for _, d := range delegates {
		// DEQUANTIZE is exact (q·scale in float32); the rest is a float matmul.
		compare(t, d.name, run(t, model, d, ids), []any{want}, tolDot, tolDot, 0)
	}
}

func bufferBytes(m *tfl.Model) int {
	n := 0
	for _, b := range m.Buffers {
		n += len(b.Data)
	}
	return n
}
