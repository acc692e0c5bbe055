package kernels_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/edged/edged/internal/cputime"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/nn"
	"github.com/edged/edged/runtime/kernels"
	"github.com/edged/edged/runtime/tflite"
)

// lnCase is a layer norm over the last of dims (as nn.LayerNorm writes it) of x, followed by
// nothing (float output), by an int8 QUANTIZE, or by the QUANTIZE and an int8
// FULLY_CONNECTED.
type lnCase struct {
	dims        []int
	gamma, beta []float32
	eps         float32
	x           []float32
	quant       bool
	fc          bool
	scale       float32
	zp          int64
	w           []int8 // fc: [n][d]
	n           int
	leak        bool // the chain's mean is a graph output too: the chain must stay with TFLite
}

func (c lnCase) String() string {
	return fmt.Sprintf("x%v eps %g quantize %v (scale %g, zero point %d) fc %v leak %v", c.dims, c.eps, c.quant, c.scale, c.zp, c.fc, c.leak)
}

func (c lnCase) d() int { return c.dims[len(c.dims)-1] }

func (c lnCase) model(t testing.TB) []byte {
	t.Helper()
	g := graph.New("layernorm")
	x := g.Input("x", graph.Float32, c.dims...)
	gamma := g.Const("gamma", c.gamma, c.d())
	beta := g.Const("beta", c.beta, c.d())
	var y *graph.Tensor
	if c.leak { // nn.LayerNorm's operators, the mean an output too
		mean := g.Mean(x, []int{-1}, true, graph.Named("ln/mean"))
		g.Output("mean", mean)
		centered := g.Sub(x, mean)
		variance := g.Mean(g.Mul(centered, centered), []int{-1}, true)
		std := g.Sqrt(g.Add(variance, g.Scalar("eps", c.eps)))
		y = g.Add(g.Mul(g.Div(centered, std), gamma), beta)
	} else {
		y = nn.LayerNorm(g, "ln", x, gamma, beta, c.eps)
	}
	if c.quant {
		q := g.Quantize(y, graph.Int8, graph.PerTensor(c.scale, c.zp), graph.Named("ln/quantized"))
		if c.fc {
			w := g.QuantizedConst("w", c.w, graph.PerTensor(0.01, 0), c.n, c.d())
			q = g.FullyConnected(q, w, nil, graph.OutQuant(graph.PerTensor(c.scale*2, 3)), graph.KeepNumDims(true), graph.Named("fc"))
		}
		g.Output("y", q)
	} else {
		g.Output("y", y)
		// x and y read elsewhere too, as a residual stream reads them.
		g.Output("z", g.Add(x, y, graph.Named("residual")))
	}
	data, err := g.Marshal()
	if err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	return data
}

// randomLN draws a case: inputs far from zero (offsets up to a thousand times their spread),
// gamma and beta random, and a quarter of the columns with gamma 0 and beta on a half step of
// the output scale, so that the quantization meets exact ties.
func randomLN(r *rand.Rand, dims []int, quant, fc bool) lnCase {
	c := lnCase{dims: dims, quant: quant, fc: fc, eps: []float32{1e-5, 1e-6, 1e-12, 0.1}[r.IntN(4)]}
	d := c.d()
	rows := 1
	for _, n := range dims[:len(dims)-1] {
		rows *= n
	}
	c.scale = float32(0.005 + r.Float64()*0.05)
	c.zp = zeroPoints[r.IntN(len(zeroPoints))]
	c.gamma, c.beta = make([]float32, d), make([]float32, d)
	for i := range c.gamma {
		c.gamma[i] = float32(1 + r.NormFloat64()*0.5)
		c.beta[i] = float32(r.NormFloat64())
		if r.IntN(4) == 0 {
			c.gamma[i] = 0
			c.beta[i] = float32(float64(r.IntN(300)-150)+0.5) * c.scale
		}
	}
	c.x = make([]float32, rows*d)
	for row := range rows {
		off := r.NormFloat64() * math.Pow(10, float64(r.IntN(4)))
		spread := math.Pow(10, -2+3*r.Float64())
		for i := range d {
			c.x[row*d+i] = float32(off + spread*r.NormFloat64())
		}
	}
	if fc {
		c.n = 1 + r.IntN(70)
		c.w = randInt8(r, c.n*d)
	}
	return c
}

func lnWantNodes(c lnCase) int {
	n := 9
	if c.quant {
		n++
	} else if !c.leak {
		n++ // the residual ADD of the float result, taken with it
	}
	if c.fc {
		n++
	}
	if runtime.GOARCH != "amd64" {
		n = 0
		if c.fc {
			n = 1
		}
	}
	return n
}

// TestLayerNormEqualsTFLite: the layer norm taken whole, with or without its QUANTIZE and the
// FULLY_CONNECTED reading it, gives TFLite's own kernels' results (delegate none) bit for bit
// on random shapes (one row to sixty, odd widths), values, eps and zero points, on every
// kernel and thread count; the FULLY_CONNECTED shares its partition (the int8 rows between
// stay inside it).
func TestLayerNormEqualsTFLite(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 41))
	var cases []lnCase
	for i := range 36 {
		var dims []int
		d := []int{768, 77, 1, 3, 8, 13, 64, 100, 255, 512}[i%10]
		switch rows := 1 + r.IntN(60); i % 3 {
		case 0:
			dims = []int{1, rows, d}
		case 1:
			dims = []int{rows, d}
		default:
			dims = []int{d}
		}
		cases = append(cases, randomLN(r, dims, i%4 != 0, i%4 == 3))
	}
	for _, c := range cases {
		model := c.model(t)
		want, _ := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Off}, nil, c.x)
		for _, kern := range kernels.Available() {
			for _, threads := range []int{1, 2, 3} {
				got, dl := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: threads, Kernels: kern}, nil, c.x)
				if n := lnWantNodes(c); dl.KernelNodes != n || (n > 0 && dl.KernelPartitions != 1) {
					t.Fatalf("%s, %v: %v, want %d operators in one partition", kern, c, dl, n)
				}
				if diff := diffOutputs(got, want); diff != "" {
					t.Errorf("%s, %d threads, %v: %s", kern, threads, c, diff)
				}
			}
		}
		// Under XNNPACK too (it would take the float operators and round the QUANTIZE's ties to
		// even): the chain is the kernels', TFLite's results.
		if runtime.GOARCH == "amd64" {
			got, dl := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateXNNPack, XNNPackQS8: true, Threads: 2, Kernels: kernels.Auto}, nil, c.x)
			if dl.KernelNodes != lnWantNodes(c) {
				t.Fatalf("xnnpack, %v: %v", c, dl)
			}
			if diff := diffOutputs(got, want); diff != "" {
				t.Errorf("xnnpack, %v: %s", c, diff)
			}
		}
	}
}

// TestLayerNormResizeAndLeaks: after a resize of the rows (TFLite applies the delegate again)
// the results still equal TFLite's; a chain whose mean is also a graph output is left to
// TFLite whole.
func TestLayerNormResizeAndLeaks(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 42))
	c := randomLN(r, []int{1, 5, 96}, true, true)
	model := c.model(t)
	for _, rows := range []int{5, 50, 1} {
		c2 := randomLN(r, []int{1, rows, 96}, true, true)
		shape := []int{1, rows, 96}
		want, _ := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Off}, shape, c2.x)
		for _, kern := range kernels.Available() {
			got, dl := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 2, Kernels: kern}, shape, c2.x)
			if dl.KernelNodes != lnWantNodes(c) {
				t.Fatalf("%s, %d rows: %v", kern, rows, dl)
			}
			if diff := firstDiff(got[0].([]int8), want[0].([]int8)); diff != "" {
				t.Errorf("%s, %d rows: %s", kern, rows, diff)
			}
		}
	}
	c.leak = true
	model = c.model(t)
	want, _ := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Off}, nil, c.x)
	for _, kern := range kernels.Available() {
		got, dl := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 2, Kernels: kern}, nil, c.x)
		if dl.KernelNodes != 1 {
			t.Errorf("%s, the mean an output: %v, want only the FULLY_CONNECTED taken", kern, dl)
		}
		if diff := diffOutputs(got, want); diff != "" {
			t.Errorf("%s, the mean an output: %s", kern, diff)
		}
	}
}

// TestLayerNormSpecialValues: rows with infinities, NaN, values whose squares overflow and
// constant rows (variance 0) take TFLite's clamps (an infinite sum or product becomes
// ±FLT_MAX) and its QUANTIZE of non-finite values.
func TestLayerNormSpecialValues(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 43))
	for _, quant := range []bool{false, true} {
		c := randomLN(r, []int{1, 9, 40}, quant, false)
		d := c.d()
		c.x[0*d+3] = float32(math.Inf(1))
		c.x[1*d+5] = float32(math.Inf(-1))
		c.x[2*d+7] = float32(math.NaN())
		for i := range d {
			c.x[3*d+i] = 3e37 * float32(1-2*(i%2)) // squares overflow
			c.x[4*d+i] = 2.5                       // variance 0
			c.x[5*d+i] = float32(i) * 1e-30        // squares underflow
		}
		c.x[6*d] = 3e38
		c.x[6*d+1] = -3e38 // x - mean overflows
		c.gamma[0] = 1e30
		c.eps = 0
		model := c.model(t)
		want, _ := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Off}, nil, c.x)
		for _, kern := range kernels.Available() {
			got, dl := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 2, Kernels: kern}, nil, c.x)
			if dl.KernelNodes != lnWantNodes(c) {
				t.Fatalf("%s: %v", kern, dl)
			}
			if diff := diffOutputs(got, want); diff != "" {
				t.Errorf("%s, quantize %v: %s", kern, quant, diff)
			}
		}
	}
}

// diffOutputs describes the first output where got and want differ ([]int8 or []float32,
// NaN equal to NaN whatever its payload), or "".
func diffOutputs(got, want []any) string {
	for o := range want {
		var diff string
		switch w := want[o].(type) {
		case []float32:
			g := append([]float32(nil), got[o].([]float32)...)
			w = append([]float32(nil), w...)
			for i := range g {
				if i < len(w) && g[i] != g[i] && w[i] != w[i] {
					g[i], w[i] = 0, 0
				}
			}
			diff = firstDiff(g, w)
		case []int8:
			diff = firstDiff(got[o].([]int8), w)
		}
		if diff != "" {
			return fmt.Sprintf("output %d: %s", o, diff)
		}
	}
	return ""
}

// BenchmarkLayerNorm times one layer norm of CLIP B/32's shape ([1, 50, 768]) with its int8
// QUANTIZE, round-robin as BenchmarkTower: left to XNNPACK (one thread; the MEAN on TFLite's
// kernel) as without the kernels, and taken whole at one thread and at two; it reports each
// one's median wall time and the invoking thread's median CPU time in microseconds:
//
//	go test -run '^$' -bench LayerNorm -benchtime 2000x ./runtime/kernels
func BenchmarkLayerNorm(b *testing.B) {
	r := rand.New(rand.NewPCG(19, 44))
	c := randomLN(r, []int{1, 50, 768}, true, false)
	for i := range c.gamma { // no columns of exact ties: a real layer norm's values
		if c.gamma[i] == 0 {
			c.gamma[i], c.beta[i] = 1, float32(r.NormFloat64())
		}
	}
	m, err := tflite.NewModel(c.model(b))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	configs := []struct {
		name string
		o    tflite.Options
	}{
		{"xnnpack_t1", tflite.Options{Threads: 1, Delegate: tflite.DelegateXNNPack, XNNPackQS8: true, Kernels: kernels.Off}},
		{"kernels_t1", tflite.Options{Threads: 1, Delegate: tflite.DelegateXNNPack, XNNPackQS8: true, Kernels: kernels.Auto}},
		{"kernels_t2", tflite.Options{Threads: 2, Delegate: tflite.DelegateXNNPack, XNNPackQS8: true, Kernels: kernels.Auto}},
	}
	ips := make([]*tflite.Interpreter, len(configs))
	for i, cf := range configs {
		ip, err := tflite.NewInterpreter(m, cf.o)
		if err != nil {
			b.Fatal(err)
		}
		defer ip.Close()
		if err := ip.Input(0).SetFloat32(c.x); err != nil {
			b.Fatal(err)
		}
		ips[i] = ip
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	wall := make([][]float64, len(ips))
	cpu := make([][]float64, len(ips))
	for n := -2; n < b.N; n++ {
		for i, ip := range ips {
			start, c0 := time.Now(), cputime.Thread()
			if err := ip.Invoke(); err != nil {
				b.Fatal(err)
			}
			if n >= 0 {
				wall[i] = append(wall[i], float64(time.Since(start).Nanoseconds())/1000)
				cpu[i] = append(cpu[i], float64((cputime.Thread()-c0).Nanoseconds())/1000)
			}
		}
	}
	for i, cf := range configs {
		slices.Sort(wall[i])
		slices.Sort(cpu[i])
		b.ReportMetric(wall[i][len(wall[i])/2], cf.name+"_p50_us")
		b.ReportMetric(cpu[i][len(cpu[i])/2], cf.name+"_cpu_us")
	}
}

// TestLayerNormIntoFullyConnected: a layer norm's int8 rows read by several FULLY_CONNECTED
// operators (attention's q, k and v), written by the layer norm straight into the rows they
// read prepared; also with a weight zero point on one of them and with a TRANSPOSE reading
// the rows too (both keep the int8 rows): every output TFLite's, on every kernel.
func TestLayerNormIntoFullyConnected(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 45))
	for i, variant := range []string{"qkv", "qkv", "zero point", "transpose", "qkv"} {
		rows, d := 1+r.IntN(60), []int{768, 77, 40, 130, 16}[i]
		c := randomLN(r, []int{1, rows, d}, true, false)
		g := graph.New("layernorm_fc")
		x := g.Input("x", graph.Float32, c.dims...)
		y := nn.LayerNorm(g, "ln", x, g.Const("gamma", c.gamma, d), g.Const("beta", c.beta, d), c.eps)
		q := g.Quantize(y, graph.Int8, graph.PerTensor(c.scale, c.zp), graph.Named("ln/quantized"))
		for f := range 3 {
			n := 1 + r.IntN(80)
			zw := int64(0)
			if variant == "zero point" && f == 1 {
				zw = 7
			}
			w := g.QuantizedConst(fmt.Sprintf("w%d", f), randInt8(r, n*d), graph.PerTensor(0.01, zw), n, d)
			g.Output(fmt.Sprintf("y%d", f), g.FullyConnected(q, w, nil, graph.OutQuant(graph.PerTensor(c.scale*3, int64(f))), graph.KeepNumDims(true)))
		}
		want := 13
		if variant == "transpose" {
			g.Output("t", g.Transpose(q, []int{0, 2, 1}))
			want++
		}
		if runtime.GOARCH != "amd64" {
			want -= 10
		}
		model, err := g.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Off}, nil, c.x)
		for _, kern := range kernels.Available() {
			for _, threads := range []int{1, 2} {
				got, dl := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: threads, Kernels: kern}, nil, c.x)
				if dl.KernelNodes != want || dl.KernelPartitions != 1 {
					t.Fatalf("%s, %s: %v, want %d operators in one partition", kern, variant, dl, want)
				}
				if diff := diffOutputs(got, ref); diff != "" {
					t.Errorf("%s, %d threads, %s, %d×%d: %s", kern, threads, variant, rows, d, diff)
				}
			}
		}
	}
}
