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

// fcCase is one int8 FULLY_CONNECTED: input [rows..., k] with zero point zx, per-tensor
// weights [n, k] with zero point zw, an int32 bias (or none), output zero point zy.
type fcCase struct {
	lead        []int // input dimensions before k
	n, k        int
	sx, sw, sy  float32
	zx, zw, zy  int64
	x           []int8
	w           []int8
	bias        []int32
	act         tfl.Activation
	keepNumDims bool
}

func (c fcCase) String() string {
	return fmt.Sprintf("x%v×%d zx=%d, w %d×%d zw=%d, zy=%d, bias=%v, act=%v, keep=%v, multiplier %.3g",
		c.lead, c.k, c.zx, c.n, c.k, c.zw, c.zy, c.bias != nil, c.act, c.keepNumDims, float64(c.sx)*float64(c.sw)/float64(c.sy))
}

func randInt8(r *rand.Rand, n int) []int8 {
	v := make([]int8, n)
	for i := range v {
		v[i] = int8(r.IntN(256) - 128)
	}
	return v
}

// zeroPoints are the extremes and a few in between.
var zeroPoints = []int64{-128, 127, 0, -1, 1, -57, 93}

// randomFC draws a case; the output scale puts the typical output within a few hundred steps,
// so the results cover the clamp and the rounding alike.
func randomFC(r *rand.Rand, lead []int, n, k int) fcCase {
	c := fcCase{lead: lead, n: n, k: k}
	c.sx = float32(0.001 + r.Float64()*0.1)
	c.sw = float32(0.0005 + r.Float64()*0.02)
	c.zx = zeroPoints[r.IntN(len(zeroPoints))]
	c.zy = zeroPoints[r.IntN(len(zeroPoints))]
	// Typical |acc| is about 74·128·sqrt(k); aim it at 50-400 output steps.
	typical := 74 * 128 * math.Sqrt(float64(k)) * float64(c.sx) * float64(c.sw)
	c.sy = float32(typical / (50 + r.Float64()*350))
	rows := 1
	for _, d := range lead {
		rows *= d
	}
	c.x = randInt8(r, rows*k)
	c.w = randInt8(r, n*k)
	if r.IntN(4) != 0 {
		c.bias = make([]int32, n)
		for i := range c.bias {
			c.bias[i] = int32(r.IntN(200001) - 100000)
		}
	}
	c.act = []tfl.Activation{tfl.ActNone, tfl.ActNone, tfl.ActRelu, tfl.ActRelu6, tfl.ActReluN1To1}[r.IntN(5)]
	c.keepNumDims = len(lead) > 1 && r.IntN(2) == 0
	return c
}

func (c fcCase) model(t testing.TB) []byte {
	t.Helper()
	g := graph.New("fc")
	x := g.QuantizedInput("x", graph.Int8, graph.PerTensor(c.sx, c.zx), append(append([]int(nil), c.lead...), c.k)...)
	w := g.QuantizedConst("w", c.w, graph.PerTensor(c.sw, c.zw), c.n, c.k)
	var b *graph.Tensor
	if c.bias != nil {
		b = g.QuantizedConst("b", c.bias, graph.PerTensor(c.sx*c.sw, 0), c.n)
	}
	y := g.FullyConnected(x, w, b, graph.OutQuant(graph.PerTensor(c.sy, c.zy)), graph.Fused(c.act), graph.KeepNumDims(c.keepNumDims))
	g.Output("y", y)
	data, err := g.Marshal()
	if err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	return data
}

// firstDiff describes where got and want differ, or "".
func firstDiff[T int8 | float32](got, want []T) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d values, want %d", len(got), len(want))
	}
	n, first := 0, -1
	for i := range got {
		if got[i] != want[i] {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d values differ, first at %d: %v, TFLite %v", n, len(got), first, got[first], want[first])
}

// TestFullyConnectedEqualsTFLite: every kernel this CPU runs gives TFLite's own int8 results
// (delegate none) bit for bit, on random shapes (odd sizes, one row, many rows, sizes around
// the tile edges), values, zero points at the extremes, activations and thread counts.
func TestFullyConnectedEqualsTFLite(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 1))
	shapes := []struct {
		lead []int
		n, k int
	}{
		{[]int{1}, 1, 1}, {[]int{1}, 16, 16}, {[]int{3}, 5, 7}, {[]int{1, 7}, 17, 33},
		{[]int{2, 6}, 64, 96}, {[]int{13}, 65, 100}, {[]int{1, 50}, 96, 768}, {[]int{7}, 31, 3},
		{[]int{1, 17}, 200, 15}, {[]int{97}, 47, 130}, {[]int{6}, 128, 64}, {[]int{5}, 80, 257},
	}
	for i, s := range shapes {
		c := randomFC(r, s.lead, s.n, s.k)
		if i%3 == 1 {
			c.zw = zeroPoints[r.IntN(len(zeroPoints))] // the converter writes 0; TFLite takes any
		}
		c.equalsTFLite(t, 1, 2, 3)
	}
}

// equalsTFLite runs c on every kernel of this CPU at each thread count and compares with
// TFLite's own kernels: each must take the operator and give the same bytes.
func (c fcCase) equalsTFLite(t *testing.T, threads ...int) {
	t.Helper()
	model := c.model(t)
	want, _ := runInt8(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Off}, c.x)
	for _, k := range kernels.Available() {
		for _, n := range threads {
			got, d := runInt8(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: n, Kernels: k}, c.x)
			if d.KernelNodes != 1 || d.Kernels != k {
				t.Fatalf("%s: the kernels did not take the operator: %v", k, d)
			}
			if diff := firstDiff(got, want); diff != "" {
				t.Errorf("%s, %d threads, %v: %s", k, n, c, diff)
			}
		}
	}
}

// TestFullyConnectedSweep: 300 random shapes at one thread and at two, 640 000 outputs per
// kernel: enough ties of the output stage's roundings (one in a few hundred values
// is a tie of the shift, one in a few hundred thousand a near-tie of the multiplier) that a
// requantization differing from TFLite's anywhere shows.
func TestFullyConnectedSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("sweep")
	}
	r := rand.New(rand.NewPCG(19, 2))
	var cases []fcCase
	var wants [][]int8
	values := 0
	for range 300 {
		c := randomFC(r, []int{1 + r.IntN(100)}, 1+r.IntN(80), 1+r.IntN(300))
		cases = append(cases, c)
		w, _ := runInt8(t, c.model(t), tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Off}, c.x)
		wants = append(wants, w)
		values += len(w)
	}
	for _, k := range kernels.Available() {
		bad := 0
		for i, c := range cases {
			got, _ := runInt8(t, c.model(t), tflite.Options{Delegate: tflite.DelegateNone, Threads: 1 + i%2, Kernels: k}, c.x)
			if diff := firstDiff(got, wants[i]); diff != "" {
				bad++
				if bad <= 3 {
					t.Errorf("%s, %v: %s", k, c, diff)
				}
			}
		}
		t.Logf("%s: %d values in %d cases, %d cases differ", k, values, len(cases), bad)
	}
}

// TestFullyConnectedExtremeScales: multipliers above 1 (a left shift), tiny ones (a shift of
// 31 and more, and a multiplier TFLite rounds to 0), and accumulators that saturate the output.
func TestFullyConnectedExtremeScales(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 3))
	for _, multiplier := range []float64{3.7, 1.0, 0.999999, 1e-4, 3e-10, 1e-12, 40} {
		c := randomFC(r, []int{9}, 21, 37)
		c.sy = float32(float64(c.sx) * float64(c.sw) / multiplier)
		c.equalsTFLite(t, 2)
	}
}

// TestFullyConnectedSaturatingPairs: the avx2 kernel's vpmaddubsw adds two products in int16
// with saturation, exact only while |w0| + |w1| <= 128 (kn_split_pairs splits the rest). Inputs
// at the extremes (x + 128 = 255 or 0) against pairs of weights at the extremes of both signs,
// every pair of one column alike or mixed: TFLite's results bit for bit on every kernel. Weights
// stay in [-127, 127], as TFLite's int8 specification asks: the arm64 library without dot
// products adds two products in int16 too, and wraps on -128 × -128 twice (seen under qemu, A72).
func TestFullyConnectedSaturatingPairs(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 7))
	extremes := []int8{127, -127, 126, -126, 100, -100, 64, -64, 65, -65, 2, -2, 1, -1, 0}
	for i := 0; i < 12; i++ {
		c := randomFC(r, []int{11}, 35, 68)
		for j := range c.x {
			c.x[j] = []int8{127, 127, 127, -128}[r.IntN(4)]
		}
		for col := 0; col < c.n; col++ {
			a, b := extremes[r.IntN(len(extremes))], extremes[r.IntN(len(extremes))]
			for j := 0; j < c.k; j++ {
				w := a
				if j%2 == 1 {
					w = b
				}
				if col%3 == 2 { // some columns mixed at random
					w = extremes[r.IntN(len(extremes))]
				}
				c.w[col*c.k+j] = w
			}
		}
		c.equalsTFLite(t, 2)
	}
}
