package graph_test

import (
	"fmt"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/tfl"
	"github.com/edged/edged/internal/testutil"
)

// mlpStack is 4 MLP blocks of width 512 (8.4M weights, 33 MB in fp32).
func mlpStack() *graph.Graph {
	g := graph.New("mlp")
	x := g.Input("x", graph.Float32, 1, 50, 512)
	h := x
	for i := 0; i < 4; i++ {
		w1 := g.Const(fmt.Sprintf("l%d.fc1", i), testutil.Randn(int64(i), 2048*512, 0.02), 2048, 512)
		w2 := g.Const(fmt.Sprintf("l%d.fc2", i), testutil.Randn(int64(i+10), 512*2048, 0.02), 512, 2048)
		h = g.Add(h, g.FullyConnected(g.Gelu(g.FullyConnected(h, w1, nil), false), w2, nil))
	}
	g.Output("y", h)
	return g
}

func BenchmarkMarshal(b *testing.B) {
	g := mlpStack()
	for _, p := range []graph.Precision{graph.FP32, graph.FP16, graph.Int8Dynamic} {
		b.Run(p.String(), func(b *testing.B) {
			var n int
			for i := 0; i < b.N; i++ {
				data, err := g.MarshalAs(p)
				if err != nil {
					b.Fatal(err)
				}
				n = len(data)
			}
			b.SetBytes(int64(n))
		})
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	data, err := mlpStack().Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		if _, err := tfl.Unmarshal(data); err != nil {
			b.Fatal(err)
		}
	}
}
