package clip

import (
	"testing"

	"github.com/edged/edged/graph"
	"github.com/edged/edged/runtime"
)

// BenchmarkShapesImageEmbed times the vision tower of the shapes model per precision and
// delegate (one thread), on a preprocessed reference scene.
func BenchmarkShapesImageEmbed(b *testing.B) {
	for _, p := range []graph.Precision{graph.FP32, graph.FP16, graph.Int8Dynamic, graph.Int8Full} {
		for _, d := range []runtime.DelegateKind{runtime.DelegateNone, runtime.DelegateXNNPack} {
			b.Run(p.String()+"/"+string(d), func(b *testing.B) {
				m, err := Load(testBundle(b, shapesModel, p), Options{RunOptions: RunOptions{Threads: 1, Delegate: d}})
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				px, err := m.Processor().Process(decodePNG(b, "testdata/shapes/scenes/scene_00.png"), nil)
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := m.EmbedPixels(px); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
