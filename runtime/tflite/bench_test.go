package tflite_test

import (
	"math/rand/v2"
	"testing"

	"github.com/edged/edged/runtime/tflite"
)

// BenchmarkInvokeOverhead times Invoke of a 4-element ADD: the fixed cost of a call through
// cgo into TFLite (and XNNPACK's hand-over), with no real work.
func BenchmarkInvokeOverhead(b *testing.B) {
	for _, c := range cpuConfigs {
		b.Run(c.name, func(b *testing.B) {
			ip := newInterpreter(b, addModel(b, 4), c.opts)
			b.ReportAllocs()
			for b.Loop() {
				if err := ip.Invoke(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTensorCopy times moving a CLIP-sized image (1×3×224×224 float32) in and out of
// TFLite: the setter, the allocation-free Read* and the allocating getter.
func BenchmarkTensorCopy(b *testing.B) {
	const n = 3 * 224 * 224
	ip := newInterpreter(b, addModel(b, n), tflite.Options{Threads: 1})
	in, out := ip.Input(0), ip.Output(0)
	v := make([]float32, n)
	b.Run("SetFloat32", func(b *testing.B) {
		b.SetBytes(4 * n)
		b.ReportAllocs()
		for b.Loop() {
			if err := in.SetFloat32(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ReadFloat32", func(b *testing.B) {
		b.SetBytes(4 * n)
		b.ReportAllocs()
		for b.Loop() {
			if err := out.ReadFloat32(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Float32", func(b *testing.B) {
		b.SetBytes(4 * n)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := out.Float32(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFullyConnected compares kernels on a ViT-B-sized projection (768→768, one token):
// float32 and full int8 with per-tensor weights, on TFLite's kernels and on XNNPACK (int8 with
// and without QS8). Single-threaded, so numbers compare kernels and not thread counts.
func BenchmarkFullyConnected(b *testing.B) {
	const k, n = 768, 768
	r := rand.New(rand.NewPCG(17, 18))
	fp32 := fcModel(b, k, n, randFloats(r, n*k), randFloats(r, n))
	p := quantFCParams{dtype: tflite.Int8, k: k, n: n, xScale: 0.05, wScale: []float32{0.01}, yScale: 1,
		qmin: -128, qmax: 127, w: make([]int32, n*k), bias: make([]int32, n)}
	for i := range p.w {
		p.w[i] = int32(r.IntN(255)) - 127
	}
	int8 := quantFCModel(b, p)
	cases := []struct {
		name string
		data []byte
		opts tflite.Options
	}{
		{"float32/none", fp32, tflite.Options{Delegate: tflite.DelegateNone}},
		{"float32/xnnpack", fp32, tflite.Options{}},
		{"int8/none", int8, tflite.Options{Delegate: tflite.DelegateNone}},
		{"int8/xnnpack", int8, tflite.Options{}},
		{"int8/xnnpack-qs8", int8, tflite.Options{XNNPackQS8: true}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			c.opts.Threads = 1
			ip := newInterpreter(b, c.data, c.opts)
			b.ReportMetric(float64(ip.Delegation().DelegatedNodes), "delegated-ops")
			for b.Loop() {
				if err := ip.Invoke(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResizeInput times ResizeInput between two batch sizes of a 768→768 FULLY_CONNECTED:
// every resize re-allocates tensors and, with XNNPACK, re-applies the delegate.
func BenchmarkResizeInput(b *testing.B) {
	const k, n = 768, 768
	r := rand.New(rand.NewPCG(23, 24))
	data := fcModel(b, k, n, randFloats(r, n*k), randFloats(r, n))
	for _, c := range cpuConfigs[:2] {
		b.Run(c.name, func(b *testing.B) {
			ip := newInterpreter(b, data, c.opts)
			batch := 1
			for b.Loop() {
				batch = 3 - batch
				if err := ip.ResizeInput(0, []int{batch, k}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
