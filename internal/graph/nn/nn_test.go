package nn

import (
	"strings"
	"testing"

	"github.com/edged/edged/internal/graph"
)

func TestCausalMask(t *testing.T) {
	// 2 queries over 3 keys (one cached key before them): query 0 sees keys 0-1, query 1 all.
	got := CausalMask(2, 3)
	want := []float32{0, 0, MaskValue, 0, 0, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("CausalMask(2,3) = %v, want %v", got, want)
		}
	}
}

func TestAttentionShapeErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(g *graph.Graph)
		want  string
	}{
		{"heads do not divide", func(g *graph.Graph) {
			x := g.Input("x", graph.Float32, 1, 4, 10)
			MultiHeadAttention(g, "attn", x, x, x, 3, AttentionOptions{})
		}, "nn: attn: model dimension 10 does not split into 3 heads"},
		{"rank", func(g *graph.Graph) {
			x := g.Input("x", graph.Float32, 4, 10)
			MultiHeadAttention(g, "attn", x, x, x, 2, AttentionOptions{})
		}, "must be [batch, seq, dim]"},
		{"causal with dynamic length", func(g *graph.Graph) {
			x := g.Input("x", graph.Float32, 1, graph.Dynamic, 8)
			MultiHeadAttention(g, "attn", x, x, x, 2, AttentionOptions{Causal: true})
		}, "causal mask needs fixed sequence lengths"},
	} {
		g := graph.New("nn")
		tc.build(g)
		if err := g.Err(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestAttentionShapes(t *testing.T) {
	g := graph.New("nn")
	q := g.Input("q", graph.Float32, 2, 3, 8)
	kv := g.Input("kv", graph.Float32, 2, 5, 8)
	out := MultiHeadAttention(g, "cross", q, kv, kv, 2, AttentionOptions{})
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	if s := out.Shape(); len(s) != 3 || s[0] != 2 || s[1] != 3 || s[2] != 8 {
		t.Fatalf("cross-attention output shape %v, want [2 3 8]", s)
	}
}
