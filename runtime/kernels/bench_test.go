package kernels_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/edged/edged/internal/cputime"
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
	configs := benchConfigs(tflite.Options{Delegate: tflite.DelegateXNNPack, XNNPackQS8: true}, "xnnpack-qs8")
	for _, s := range shapes {
		c := randomFC(r, []int{1, s.m}, s.n, s.k)
		c.act, c.keepNumDims = tfl.ActNone, true // as the converter writes them (XNNPACK refuses some of the others)
		c.w = bellInt8(r, s.n*s.k)
		for _, cfg := range configs {
			benchOne(b, fmt.Sprintf("%dx%dx%d/%s", s.m, s.k, s.n, cfg.name), c.model(b), cfg.opts, s.m*s.k*s.n, func(in *tflite.Tensor) error { return in.SetInt8(c.x) })
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
	configs := benchConfigs(tflite.Options{Delegate: tflite.DelegateXNNPack}, "xnnpack-f32")
	for _, s := range shapes {
		c := randomWFC(r, []int{1, s.m}, s.n, s.k, true)
		c.act, c.keepNumDims, c.bias = tfl.ActNone, true, randFloats(r, s.n, 1)
		for _, cfg := range configs {
			benchOne(b, fmt.Sprintf("%dx%dx%d/%s", s.m, s.k, s.n, cfg.name), c.model(b), cfg.opts, s.m*s.k*s.n, func(in *tflite.Tensor) error { return in.SetFloat32(c.x) })
		}
	}
}

// bellInt8 draws n weights as a symmetric per-tensor quantizer leaves a trained layer's: normal,
// the largest of them near ±127 (4.5 σ). Uniform int8 weights would be unlike any model's, and
// the avx2 kernel would split half of their pairs (kn_split_pairs) instead of about 0.1%.
func bellInt8(r *rand.Rand, n int) []int8 {
	w := make([]int8, n)
	for i := range w {
		w[i] = int8(max(-127, min(127, math.Round(r.NormFloat64()*127/4.5))))
	}
	return w
}

// benchOne times model under opts at 1 and 2 threads (sub-benchmarks name/threads=N), its input
// set by set, and reports GMAC/s for macs multiply-adds per run.
func benchOne(b *testing.B, name string, model []byte, opts tflite.Options, macs int, set func(*tflite.Tensor) error) {
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("%s/threads=%d", name, threads), func(b *testing.B) {
			m, err := tflite.NewModel(model)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			o := opts
			o.Threads = threads
			ip, err := tflite.NewInterpreter(m, o)
			if err != nil {
				b.Fatal(err)
			}
			defer ip.Close()
			if err := set(ip.Input(0)); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if err := ip.Invoke(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(macs)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}

type benchConfig struct {
	name string
	opts tflite.Options
}

// benchConfigs are o with each kernel of this CPU but the generic one, then o with the kernels
// off, named reference.
func benchConfigs(o tflite.Options, reference string) []benchConfig {
	var configs []benchConfig
	for _, k := range kernels.Available() {
		if k != kernels.Generic {
			c := o
			c.Kernels = k
			configs = append(configs, benchConfig{k, c})
		}
	}
	o.Kernels = kernels.Off
	return append(configs, benchConfig{reference, o})
}

// BenchmarkTower times a real model (EDGED_BENCH_MODEL: a full-int8 .tflite with one float
// input, e.g. the vision.tflite `edged bench --random-init` leaves in its cache) on this CPU's
// best kernel: at one thread with and without attention's BATCH_MATMUL, and at two with the
// pool's workers never spinning, spinning kernels.DefaultSpin, and spinning 1 ms, and without
// BATCH_MATMUL (-bmm). The interpreters run round-robin, one Invoke each in turn, so that load
// from other programs falls on all of them alike; each reports its median and 90th percentile and the median CPU time of
// the invoking thread (at one thread all the work, and little moved by other programs' load):
//
//	EDGED_BENCH_MODEL=$HOME/.cache/edged/bench/clip-vit-base-patch32-…-int8/vision.tflite \
//	  go test -run '^$' -bench Tower -benchtime 200x ./runtime/kernels
func BenchmarkTower(b *testing.B) {
	path := os.Getenv("EDGED_BENCH_MODEL")
	if path == "" {
		b.Skip("EDGED_BENCH_MODEL names no model")
	}
	m, err := tflite.LoadModel(path)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	configs := []struct {
		name    string
		threads int
		kernels string
		spin    time.Duration
	}{
		{"t1", 1, kernels.Auto, 0},
		{"t1_nobmm", 1, kernels.Auto + kernels.NoBatchMatMulSuffix, 0},
		{"t2_nospin", 2, kernels.Auto, -1},
		{"t2_spin300us", 2, kernels.Auto, kernels.DefaultSpin},
		{"t2_spin1ms", 2, kernels.Auto, time.Millisecond},
		{"t2_nobmm", 2, kernels.Auto + kernels.NoBatchMatMulSuffix, 0},
	}
	ips := make([]*tflite.Interpreter, len(configs))
	for i, c := range configs {
		ip, err := tflite.NewInterpreter(m, tflite.Options{Threads: c.threads, Delegate: tflite.DelegateXNNPack, XNNPackQS8: true, Kernels: c.kernels, KernelsSpin: c.spin})
		if err != nil {
			b.Fatal(err)
		}
		defer ip.Close()
		in := ip.Input(0)
		if err := in.SetFloat32(randFloats(rand.New(rand.NewPCG(19, 17)), in.NumElements(), 1)); err != nil {
			b.Fatal(err)
		}
		ips[i] = ip
	}
	runtime.LockOSThread() // the thread CPU time is the invoking thread's
	defer runtime.UnlockOSThread()
	wall := make([][]float64, len(ips))
	cpu := make([][]float64, len(ips))
	for r := -2; r < b.N; r++ { // two untimed rounds first
		for i, ip := range ips {
			start, c0 := time.Now(), cputime.Thread()
			if err := ip.Invoke(); err != nil {
				b.Fatal(err)
			}
			if r >= 0 {
				wall[i] = append(wall[i], float64(time.Since(start).Microseconds())/1000)
				cpu[i] = append(cpu[i], float64((cputime.Thread()-c0).Microseconds())/1000)
			}
		}
	}
	for i, c := range configs {
		slices.Sort(wall[i])
		slices.Sort(cpu[i])
		b.ReportMetric(wall[i][len(wall[i])/2], c.name+"_p50_ms")
		b.ReportMetric(wall[i][len(wall[i])*9/10], c.name+"_p90_ms")
		b.ReportMetric(cpu[i][len(cpu[i])/2], c.name+"_cpu_ms")
	}
}
