package blip

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/edged/edged/convert"
	"github.com/edged/edged/graph"
	"github.com/edged/edged/hf"
	"github.com/edged/edged/runtime/tflite"
)

// baseDecoderModels builds the text decoder of BLIP base (BlipConfig()'s sizes: 12 layers of
// 768, vocabulary 30524, cross-attention to 577 image tokens) with random weights at
// precision p: the cross-KV and step models, closed with the benchmark.
func baseDecoderModels(b *testing.B, p graph.Precision) (crossKV, step *tflite.Model, s shape) {
	b.Helper()
	src, s := baseSource(b)
	l := &loader{w: src.Weights}
	models := map[string]*tflite.Model{}
	for role, build := range map[string]func(g *graph.Graph){
		RoleCrossKV:     func(g *graph.Graph) { buildCrossKV(g, s.text, l, s.vision.tokens(), s.vision.Hidden) },
		RoleDecoderStep: func(g *graph.Graph) { buildDecoderStep(g, s.text, l, s.cache, s.vision.tokens()) },
	} {
		g := graph.New(role)
		build(g)
		if l.err != nil {
			b.Fatal(l.err)
		}
		data, err := g.MarshalAs(p)
		if err != nil {
			b.Fatal(err)
		}
		m, err := tflite.NewModel(data)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { m.Close() })
		models[role] = m
	}
	return models[RoleCrossKV], models[RoleDecoderStep], s
}

// newBaseDecoder makes a decoder of the models attending to 577 made-up image states.
func newBaseDecoder(b *testing.B, crossKV, step *tflite.Model, s shape, ro tflite.Options) *decoder {
	b.Helper()
	dims := decoderDims{layers: s.text.Layers, heads: s.text.Heads, headDim: s.text.headDim(), vocab: s.text.Vocab,
		cache: s.cache, crossLen: s.vision.tokens()}
	d, err := newDecoder(dims, crossKV, step, ro, ro)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.close() })
	states := make([]float32, s.vision.tokens()*s.vision.Hidden)
	for i := range states {
		states[i] = float32(i%7) - 3
	}
	if err := d.attend(states, s.vision.tokens()); err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkDecodeToken measures one greedy decoder step of BLIP base at positions 1, 10 and
// 30 (after that many tokens). With the key/value cache the cost must not grow with the
// position: a step reads the 64-slot cache whatever the position, and masks the slots not yet
// filled. The positions are measured interleaved, so that load from other processes falls on
// all three alike, and reported as the median ms per token at each (ms/token@N); the ns/op is
// one step at each of the three. XNNPACK runs with 1 and with 2 threads.
func BenchmarkDecodeToken(b *testing.B) {
	positions := []int{1, 10, 30}
	for _, p := range []graph.Precision{graph.FP32, graph.Int8Dynamic} {
		crossKV, step, s := baseDecoderModels(b, p)
		for _, threads := range []int{1, 2} {
			d := newBaseDecoder(b, crossKV, step, s, tflite.Options{Threads: threads})
			b.Run(fmt.Sprintf("%v/threads=%d", p, threads), func(b *testing.B) {
				if err := d.begin(1); err != nil {
					b.Fatal(err)
				}
				// Fill 30 positions; a step at an earlier position overwrites its own slot and
				// masks the later ones, so it costs what it would have when decoding.
				for i := 0; i < positions[len(positions)-1]; i++ {
					if _, err := d.step([]int32{int32(1000 + i)}, i); err != nil {
						b.Fatal(err)
					}
				}
				times := make([][]float64, len(positions))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for j, pos := range positions {
						t0 := time.Now()
						if _, err := d.step([]int32{2000}, pos); err != nil {
							b.Fatal(err)
						}
						times[j] = append(times[j], float64(time.Since(t0).Microseconds())/1000)
					}
				}
				b.StopTimer()
				for j, pos := range positions {
					b.ReportMetric(median(times[j]), fmt.Sprintf("ms/token@%d", pos))
				}
			})
		}
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// BenchmarkVision measures BLIP base's vision tower (ViT-B/16 at 384, random weights) per
// picture at each precision, interleaved so that load from other processes falls on all
// alike, and reports the median ms per picture of each (ms/<precision>); the ns/op is one
// picture at each. int8 is calibrated on 8 shapes scenes (speed does not depend on how well)
// and runs with XNNPACK's QS8 flag, as Model does.
func BenchmarkVision(b *testing.B) {
	src, s := baseSource(b)
	precisions := []graph.Precision{graph.FP32, graph.Int8Dynamic, graph.Int8Full}
	var sessions []*session
	for _, p := range precisions {
		g, err := buildModel(s, builders(s)[0], src.Weights)
		if err != nil {
			b.Fatal(err)
		}
		lower := graph.LowerOptions{Precision: p}
		if p == graph.Int8Full {
			ranges, _, err := calibrateVision(src, s, g, convert.Options{CalibrationImages: 8, Threads: 2}, nopProgress{})
			if err != nil {
				b.Fatal(err)
			}
			lower.Ranges, lower.KeepFloat = ranges, keepFloat
		}
		data, err := g.MarshalWith(lower)
		if err != nil {
			b.Fatal(err)
		}
		m, err := tflite.NewModel(data)
		if err != nil {
			b.Fatal(err)
		}
		se, err := newSession(RoleVision, m, tflite.Options{XNNPackQS8: p == graph.Int8Full})
		m.Close()
		if err != nil {
			b.Fatal(err)
		}
		defer se.close()
		b.Logf("%v: %v", p, se.ip.Delegation())
		sessions = append(sessions, se)
	}
	times := make([][]float64, len(precisions))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, se := range sessions {
			t0 := time.Now()
			if err := se.invoke(); err != nil {
				b.Fatal(err)
			}
			times[j] = append(times[j], float64(time.Since(t0).Microseconds())/1000)
		}
	}
	b.StopTimer()
	for j, p := range precisions {
		b.ReportMetric(median(times[j]), "ms/"+p.String())
	}
}

type nopProgress struct{}

func (nopProgress) Step(string, int, int) {}

// baseSource is a BLIP base captioning checkpoint with random weights (BlipConfig()'s sizes).
func baseSource(b *testing.B) (*convert.Source, shape) {
	b.Helper()
	dir := b.TempDir()
	cfg, err := os.ReadFile("testdata/blip_base_config.json")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		b.Fatal(err)
	}
	src, err := convert.OpenSource(dir, convert.Options{RandomInit: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { src.Close() })
	c, err := hf.ParseConfig(cfg, "blip_base_config.json")
	if err != nil {
		b.Fatal(err)
	}
	bc, err := c.Blip()
	if err != nil {
		b.Fatal(err)
	}
	s, err := shapeFromConfig(ArchCaption, bc)
	if err != nil {
		b.Fatal(err)
	}
	return src, s
}
