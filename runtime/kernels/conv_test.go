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

// convCase is an int8 CONV_2D whose stride is its kernel size (a patch embedding).
type convCase struct {
	n, h, w, c, o, kh, kw int
	padding               tfl.Padding
	perChannel            bool
	act                   tfl.Activation
	stride                int // 0: the kernel's size
}

func (c convCase) String() string {
	return fmt.Sprintf("[%d %d %d %d] * [%d %d %d %d] %v, per-channel %v, %v", c.n, c.h, c.w, c.c, c.o, c.kh, c.kw, c.c, c.padding, c.perChannel, c.act)
}

func (c convCase) model(t *testing.T, r *rand.Rand) ([]byte, []int8) {
	t.Helper()
	sx := float32(0.01 + r.Float64()*0.05)
	zx := zeroPoints[r.IntN(len(zeroPoints))]
	k := c.kh * c.kw * c.c
	scales := make([]float32, c.o)
	for i := range scales {
		scales[i] = float32(0.0005 + r.Float64()*0.01)
	}
	wq := graph.Quant{Scale: scales, ZeroPoint: make([]int64, c.o), Axis: 0}
	if !c.perChannel {
		wq = graph.PerTensor(scales[0], 0)
	}
	bias := make([]int32, c.o)
	bq := graph.Quant{Scale: make([]float32, c.o), ZeroPoint: make([]int64, c.o)}
	for i := range bias {
		bias[i] = int32(r.IntN(40001) - 20000)
		bq.Scale[i] = sx * scales[i]
	}
	if !c.perChannel {
		bq = graph.PerTensor(sx*scales[0], 0)
	}
	sy := float32(74 * 128 * math.Sqrt(float64(k)) * float64(sx) * float64(scales[0]) / (50 + r.Float64()*300))
	g := graph.New("conv")
	x := g.QuantizedInput("x", graph.Int8, graph.PerTensor(sx, zx), c.n, c.h, c.w, c.c)
	wt := g.QuantizedConst("w", randInt8(r, c.o*k), wq, c.o, c.kh, c.kw, c.c)
	bt := g.QuantizedConst("b", bias, bq, c.o)
	sh, sw := c.kh, c.kw
	if c.stride != 0 {
		sh, sw = c.stride, c.stride
	}
	y := g.Conv2D(x, wt, bt, graph.Conv2DParams{StrideH: sh, StrideW: sw, Padding: c.padding},
		graph.OutQuant(graph.PerTensor(sy, zeroPoints[r.IntN(len(zeroPoints))])), graph.Fused(c.act))
	g.Output("y", y)
	data, err := g.Marshal()
	if err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	return data, randInt8(r, c.n*c.h*c.w*c.c)
}

// TestPatchConvEqualsTFLite: CONV_2D with stride = kernel size (ViT patch embeddings), weights
// per channel (as the converter writes them) and per tensor, odd sizes and channel counts,
// rectangular kernels, every kernel and 1-3 threads: TFLite's results bit for bit. A CONV_2D
// whose patches overlap is left to TFLite.
func TestPatchConvEqualsTFLite(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 8))
	cases := []convCase{
		{1, 64, 64, 3, 96, 16, 16, tfl.PaddingValid, true, tfl.ActNone, 0},
		{1, 224, 224, 3, 40, 32, 32, tfl.PaddingValid, true, tfl.ActNone, 0},
		{2, 15, 22, 5, 17, 3, 2, tfl.PaddingValid, true, tfl.ActRelu, 0},
		{1, 17, 17, 4, 9, 4, 4, tfl.PaddingValid, false, tfl.ActRelu6, 0},
		{1, 12, 18, 7, 33, 4, 6, tfl.PaddingSame, true, tfl.ActNone, 0},
		{3, 8, 8, 1, 1, 1, 1, tfl.PaddingValid, true, tfl.ActReluN1To1, 0},
	}
	for _, c := range cases {
		model, x := c.model(t, r)
		want, _ := runInt8(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Off}, x)
		for _, k := range kernels.Available() {
			for _, threads := range []int{1, 3} {
				got, d := runInt8(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: threads, Kernels: k}, x)
				if d.KernelNodes != 1 {
					t.Fatalf("%s, %v: the kernels did not take the operator: %v", k, c, d)
				}
				if diff := firstDiff(got, want); diff != "" {
					t.Errorf("%s, %d threads, %v: %s", k, threads, c, diff)
				}
			}
		}
	}
	// Overlapping patches (stride < kernel): not a patch embedding, left to TFLite.
	c := convCase{1, 9, 9, 2, 4, 3, 3, tfl.PaddingValid, true, tfl.ActNone, 1}
	model, x := c.model(t, r)
	if _, d := runInt8(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Generic}, x); d.KernelNodes != 0 {
		t.Errorf("%v: taken by the kernels: %v", c, d)
	}
}
