package kernels_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/edged/edged/internal/graph/tfl"
	"github.com/edged/edged/runtime/kernels"
	"github.com/edged/edged/runtime/tflite"
)

// BenchmarkFullyConnected times one int8 FULLY_CONNECTED of ViT-B's shapes (CLIP B/32: 50
// tokens; BLIP base at 384: 577) on each kernel of this CPU and on XNNPACK's QS8 kernels,
// through a TFLite interpreter, and reports GMAC/s:
//
//	go test -run '^$' -bench FullyConnected -benchtime 200x ./runtime/kernels
func BenchmarkFullyConnected(b *testing.B) {
	r := rand.New(rand.NewPCG(19, 9))
	shapes := []struct{ m, k, n int }{{50, 768, 3072}, {50, 3072, 768}, {50, 768, 768}, {577, 768, 3072}, {1, 768, 512}}
	type config struct {
		name string
		opts tflite.Options
	}
	var configs []config
	for _, k := range kernels.Available() {
		if k != kernels.Generic {
			configs = append(configs, config{k, tflite.Options{Delegate: tflite.DelegateXNNPack, XNNPackQS8: true, Kernels: k}})
		}
	}
	configs = append(configs, config{"xnnpack-qs8", tflite.Options{Delegate: tflite.DelegateXNNPack, XNNPackQS8: true, Kernels: kernels.Off}})
	for _, s := range shapes {
		c := randomFC(r, []int{1, s.m}, s.n, s.k)
		c.act, c.keepNumDims = tfl.ActNone, true // as the converter writes them (XNNPACK refuses some of the others)
		model := c.model(b)
		for _, cfg := range configs {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%dx%dx%d/%s/threads=%d", s.m, s.k, s.n, cfg.name, threads), func(b *testing.B) {
					m, err := tflite.NewModel(model)
					if err != nil {
						b.Fatal(err)
					}
					defer m.Close()
					opts := cfg.opts
					opts.Threads = threads
					ip, err := tflite.NewInterpreter(m, opts)
					if err != nil {
						b.Fatal(err)
					}
					defer ip.Close()
					if err := ip.Input(0).SetInt8(c.x); err != nil {
						b.Fatal(err)
					}
					b.ResetTimer()
					for range b.N {
						if err := ip.Invoke(); err != nil {
							b.Fatal(err)
						}
					}
					macs := float64(s.m) * float64(s.k) * float64(s.n) * float64(b.N)
					b.ReportMetric(macs/b.Elapsed().Seconds()/1e9, "GMAC/s")
				})
			}
		}
	}
}

// BenchmarkWeightOnly times one float FULLY_CONNECTED of BLIP's text shapes (a decoder step's
// token: 1 row, with 3 beams: 3; a question: 35; cross-attention keys of the 577 image tokens) on the int8 weights' DEQUANTIZE, on each
// kernel of this CPU, and on XNNPACK's float kernels given the same model (the int8-dynamic
// file without the kernels), and reports GMAC/s:
//
//	go test -run '^$' -bench WeightOnly -benchtime 200x ./runtime/kernels
func BenchmarkWeightOnly(b *testing.B) {
	r := rand.New(rand.NewPCG(19, 13))
	shapes := []struct{ m, k, n int }{{1, 768, 768}, {1, 768, 3072}, {1, 3072, 768}, {1, 768, 30524}, {3, 768, 3072}, {35, 768, 3072}, {577, 768, 768}}
	type config struct {
		name string
		opts tflite.Options
	}
	var configs []config
	for _, k := range kernels.Available() {
		if k != kernels.Generic {
			configs = append(configs, config{k, tflite.Options{Delegate: tflite.DelegateXNNPack, Kernels: k}})
		}
	}
	configs = append(configs, config{"xnnpack-f32", tflite.Options{Delegate: tflite.DelegateXNNPack, Kernels: kernels.Off}})
	for _, s := range shapes {
		c := randomWFC(r, []int{1, s.m}, s.n, s.k, true)
		c.act, c.keepNumDims, c.bias = tfl.ActNone, true, randFloats(r, s.n, 1)
		model := c.model(b)
		for _, cfg := range configs {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%dx%dx%d/%s/threads=%d", s.m, s.k, s.n, cfg.name, threads), func(b *testing.B) {
					m, err := tflite.NewModel(model)
					if err != nil {
						b.Fatal(err)
					}
					defer m.Close()
					opts := cfg.opts
					opts.Threads = threads
					ip, err := tflite.NewInterpreter(m, opts)
					if err != nil {
						b.Fatal(err)
					}
					defer ip.Close()
					if err := ip.Input(0).SetFloat32(c.x); err != nil {
						b.Fatal(err)
					}
					b.ResetTimer()
					for range b.N {
						if err := ip.Invoke(); err != nil {
							b.Fatal(err)
						}
					}
					macs := float64(s.m) * float64(s.k) * float64(s.n) * float64(b.N)
					b.ReportMetric(macs/b.Elapsed().Seconds()/1e9, "GMAC/s")
				})
			}
		}
	}
}
