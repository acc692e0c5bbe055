package graph_test

import (
	"bytes"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/tfl"
	"github.com/edged/edged/internal/testutil"
)

// addFC builds y = relu(x + c) · wᵀ + b, the smallest useful model.
func addFC(t *testing.T) (*graph.Graph, []float32, []float32, []float32) {
	t.Helper()
	g := graph.New("add_fc")
	x := g.Input("x", graph.Float32, 2, 4)
	c := testutil.Randn(1, 4, 1)
	w := testutil.Randn(2, 3*4, 0.5)
	b := testutil.Randn(3, 3, 0.1)
	s := g.Add(x, g.Const("c", c, 4), graph.Fused(tfl.ActRelu))
	y := g.FullyConnected(s, g.Const("w", w, 3, 4), g.Const("b", b, 3))
	g.Output("y", y)
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	return g, c, w, b
}

func TestAddFullyConnectedRuns(t *testing.T) {
	g, c, w, b := addFC(t)
	model, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	x := testutil.Randn(4, 8, 1)
	// Reference: y[r][o] = sum_k relu(x[r][k]+c[k]) * w[o][k] + b[o].
	want := make([]float32, 6)
	for r := 0; r < 2; r++ {
		for o := 0; o < 3; o++ {
			acc := float64(b[o])
			for k := 0; k < 4; k++ {
				acc += float64(max(x[r*4+k]+c[k], 0)) * float64(w[o*4+k])
			}
			want[r*3+o] = float32(acc)
		}
	}
	for _, d := range delegates {
		got := run(t, model, d, x)[0].([]float32)
		closeTo(t, d.name, got, want, 1e-5, 1e-5)
	}
}

func TestMarshalIsDeterministic(t *testing.T) {
	g1, _, _, _ := addFC(t)
	g2, _, _, _ := addFC(t)
	a, err := g1.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b, err := g1.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c, err := g2.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) || !bytes.Equal(a, c) {
		t.Fatal("the same graph marshalled to different bytes")
	}
}

func TestRoundTrip(t *testing.T) {
	g, _, _, _ := addFC(t)
	g.SetMetadata("edged_manifest", []byte(`{"arch":"test"}`))
	for _, p := range []graph.Precision{graph.FP32, graph.FP16, graph.Int8Dynamic} {
		a, err := g.MarshalAs(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := tfl.Unmarshal(a)
		if err != nil {
			t.Fatalf("%v: read back: %v", p, err)
		}
		b, err := tfl.Marshal(m)
		if err != nil {
			t.Fatalf("%v: write again: %v", p, err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("%v: write → read → write changed the bytes (%d vs %d)", p, len(a), len(b))
		}
	}
}
