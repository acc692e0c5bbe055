package tflite_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/edged/edged/internal/graph"
)

// A model written by package graph (the converter's writer) runs here like the hand-written
// ones: named inputs and outputs, a dynamic batch dimension resized at run time, results equal
// to Go maths on every CPU configuration. Tolerance as TestFullyConnectedMatchesGo.
func TestGraphWrittenModel(t *testing.T) {
	noLeaks(t)
	const k, n, batch = 16, 8, 3
	r := rand.New(rand.NewPCG(19, 20))
	w, bias, c := randFloats(r, n*k), randFloats(r, n), randFloats(r, k)
	g := graph.New("runtime_test")
	x := g.Input("pixels", graph.Float32, -1, k)
	y := g.FullyConnected(g.Add(x, g.Const("shift", c, k)), g.Const("w", w, n, k), g.Const("b", bias, n))
	g.Output("embedding", y)
	data, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range cpuConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			ip := newInterpreter(t, data, cfg.opts)
			in, err := ip.InputByName("pixels")
			if err != nil {
				t.Fatal(err)
			}
			out, err := ip.OutputByName("embedding")
			if err != nil {
				t.Fatal(err)
			}
			if err := ip.ResizeInput(0, []int{batch, k}); err != nil {
				t.Fatal(err)
			}
			if got := out.Shape(); !slices.Equal(got, []int{batch, n}) {
				t.Fatalf("output shape %v, want [%d %d]", got, batch, n)
			}
			xs := randFloats(r, batch*k)
			if err := in.SetFloat32(xs); err != nil {
				t.Fatal(err)
			}
			if err := ip.Invoke(); err != nil {
				t.Fatal(err)
			}
			got, err := out.Float32()
			if err != nil {
				t.Fatal(err)
			}
			for row := range batch {
				shifted := make([]float32, k)
				for i := range k {
					shifted[i] = xs[row*k+i] + c[i]
				}
				for j, want := range fcReference(shifted, w, bias, k, n) {
					if d := math.Abs(float64(got[row*n+j]) - want); d > 1e-4+1e-5*math.Abs(want) {
						t.Fatalf("y[%d,%d] = %v, want %v", row, j, got[row*n+j], want)
					}
				}
			}
		})
	}
}
