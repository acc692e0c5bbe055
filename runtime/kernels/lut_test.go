package kernels_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/runtime/kernels"
	"github.com/edged/edged/runtime/tflite"
)

// randQuant is a per-tensor int8 quantization: scale log-uniform in [1e-4, 1], zero point at
// either extreme one time in four.
func randQuant(r *rand.Rand) graph.Quant {
	scale := float32(math.Pow(10, -4+4*r.Float64()))
	zp := int64(r.IntN(256) - 128)
	switch r.IntN(8) {
	case 0:
		zp = -128
	case 1:
		zp = 127
	}
	return graph.PerTensor(scale, zp)
}

// everyByte is n int8 values, the first 256 of them every value in a random order.
func everyByte(r *rand.Rand, n int) []int8 {
	v := randInt8(r, n)
	for i, p := range r.Perm(256) {
		v[i] = int8(p - 128)
	}
	return v
}

// TestLookupTablesEqualTFLite: chains of int8 MUL and LOGISTIC that are functions of one int8
// tensor (CLIP's QuickGELU: x · σ(α x); the query's MUL by the attention scale; x · x) with
// random scales and zero points, on every input byte, fed by a FULLY_CONNECTED and feeding
// one: every operator of the chain is taken as a lookup table, and the outputs are TFLite's
// own int8 kernels' bit for bit. 4 × 67 values: whole vectors and a tail for each lookup's
// instructions (vpermb, vpshufb, tbl, scalar). On arm64 only LOGISTIC is taken (lut.c says
// why): the chains with a MUL are left to TFLite there, and must still give its results.
func TestLookupTablesEqualTFLite(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 31))
	arm64 := 0
	if runtime.GOARCH == "arm64" {
		arm64 = 1
	}
	type chain struct {
		name string
		ops  int // operators taken (on amd64: all)
		out  func(g *graph.Graph, x *graph.Tensor) *graph.Tensor
	}
	const k, width = 64, 67
	chains := []chain{
		{"quick_gelu", 3 - 2*arm64, func(g *graph.Graph, x *graph.Tensor) *graph.Tensor {
			alpha := g.QuantizedConst("alpha", []int8{int8(r.IntN(256) - 128)}, randQuant(r), 1)
			s := g.Logistic(g.Mul(x, alpha, graph.OutQuant(randQuant(r))))
			return g.Mul(x, s, graph.OutQuant(randQuant(r)))
		}},
		{"scale", 1 - arm64, func(g *graph.Graph, x *graph.Tensor) *graph.Tensor {
			c := g.QuantizedConst("c", []int8{int8(r.IntN(256) - 128)}, randQuant(r), 1)
			return g.Mul(x, c, graph.OutQuant(randQuant(r)))
		}},
		{"square", 1 - arm64, func(g *graph.Graph, x *graph.Tensor) *graph.Tensor {
			return g.Mul(x, x, graph.OutQuant(randQuant(r)))
		}},
		{"logistic", 1, func(g *graph.Graph, x *graph.Tensor) *graph.Tensor { return g.Logistic(x) }},
	}
	for trial := range 30 {
		for _, c := range chains {
			g := graph.New("lut")
			x := g.QuantizedInput("x", graph.Int8, randQuant(r), 4, width)
			// The input itself for the chain's own tests; then a FULLY_CONNECTED before and
			// after, as fc1 and fc2 around CLIP's QuickGELU.
			g.Output("direct", c.out(g, x))
			w1 := g.QuantizedConst("w1", randInt8(r, k*width), graph.PerTensor(0.02, 0), k, width)
			h := g.FullyConnected(x, w1, nil, graph.OutQuant(randQuant(r)))
			w2 := g.QuantizedConst("w2", randInt8(r, 16*k), graph.PerTensor(0.02, 0), 16, k)
			g.Output("fc", g.FullyConnected(c.out(g, h), w2, nil, graph.OutQuant(graph.PerTensor(0.5, 3))))
			model, err := g.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			in := everyByte(r, 4*width)
			want, _ := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Off}, nil, in)
			for _, kern := range kernels.Available() {
				name := fmt.Sprintf("trial %d, %s, %s", trial, c.name, kern)
				got, d := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 2, Kernels: kern}, nil, in)
				if d.KernelNodes != 2*c.ops+2 {
					t.Fatalf("%s: %v, want the %d lookups and the 2 FULLY_CONNECTED taken", name, d, 2*c.ops)
				}
				for i := range want {
					if diff := firstDiff(got[i].([]int8), want[i].([]int8)); diff != "" {
						t.Errorf("%s, output %d: %s", name, i, diff)
					}
				}
			}
		}
	}
}
