package blip

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/models"
	"github.com/edged/edged/runtime/tflite"
)

// baseModel converts BLIP base's captioning config (BlipConfig()'s sizes: 12 layers of 768,
// vocabulary 30524, cross-attention to 577 image tokens) with random weights at precision p
// and opens it; closed with the benchmark.
func baseModel(b *testing.B, p graph.Precision) *Model {
	b.Helper()
	dir := b.TempDir()
	cfg, err := os.ReadFile("testdata/blip_base_config.json")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		b.Fatal(err)
	}
	bu, err := models.Convert(dir, filepath.Join(dir, "bundle"), convert.Options{Precision: p, RandomInit: true, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	m, err := Load(bu, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

// newBaseDecoder makes a decoder of m's models attending to made-up image states.
func newBaseDecoder(b *testing.B, m *Model, ro tflite.Options) *decoder {
	b.Helper()
	d, err := newDecoder(m.dec, m.models[spec.RoleCrossKV], m.models[spec.RoleDecoderStep], ro, ro)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.close() })
	states := make([]float32, m.visionTokens*m.visionHidden)
	for i := range states {
		states[i] = float32(i%7) - 3
	}
	if err := d.attend(states, m.visionTokens); err != nil {
		b.Fatal(err)
	}
	return d
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
