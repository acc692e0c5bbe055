package blip

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/edged/edged/convert"
	"github.com/edged/edged/graph"
	"github.com/edged/edged/hf"
	"github.com/edged/edged/runtime"
)

// baseDecoder builds the text decoder of BLIP base (BlipConfig()'s sizes: 12 layers of 768,
// vocabulary 30524, cross-attention to 577 image tokens) with random weights at precision p.
func baseDecoder(b *testing.B, p graph.Precision) (*decoder, shape) {
	return baseDecoderWith(b, p, runtime.Options{})
}

func baseDecoderWith(b *testing.B, p graph.Precision, ro runtime.Options) (*decoder, shape) {
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
	defer src.Close()
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
	l := &loader{w: src.Weights}
	models := map[string]*runtime.Model{}
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
		if models[role], err = runtime.NewModel(data); err != nil {
			b.Fatal(err)
		}
		defer models[role].Close()
	}
	dims := decoderDims{layers: s.text.Layers, heads: s.text.Heads, headDim: s.text.headDim(), vocab: s.text.Vocab,
		cache: s.cache, crossLen: s.vision.tokens()}
	d, err := newDecoder(dims, models[RoleCrossKV], models[RoleDecoderStep], ro, ro)
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
	return d, s
}

// BenchmarkDecodeToken measures one greedy decoder step of BLIP base at positions 1, 10 and
// 30 (after that many tokens): with the key/value cache the cost must not grow with the
// position. The cache holds 64 slots whatever the position, so its copy and the masked
// attention over it cost the same at every step.
func BenchmarkDecodeToken(b *testing.B) {
	for _, p := range []graph.Precision{graph.FP32, graph.Int8Dynamic} {
		d, _ := baseDecoder(b, p)
		for _, pos := range []int{1, 10, 30} {
			b.Run(fmt.Sprintf("%v/position=%d", p, pos), func(b *testing.B) {
				if err := d.begin(1); err != nil {
					b.Fatal(err)
				}
				for i := 0; i < pos; i++ {
					if _, err := d.step([]int32{int32(1000 + i)}, i); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					// The same position each time: the step overwrites its own cache slot.
					if _, err := d.step([]int32{2000}, pos); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
