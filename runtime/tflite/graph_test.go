package tflite_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/runtime/tflite"
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

// An output holding NaN or an infinity is an error of the model when read as numbers, naming
// the tensor and the value; finite outputs read as ReadFloat32 reads them. CheckFinite says
// the same of the data where it lies.
func TestReadFiniteFloat32(t *testing.T) {
	noLeaks(t)
	g := graph.New("finite_test")
	g.Output("root", g.Sqrt(g.Input("x", graph.Float32, 3)))
	data, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ip := newInterpreter(t, data, tflite.Options{Threads: 1, Delegate: tflite.DelegateNone})
	run := func(x []float32) {
		t.Helper()
		if err := ip.Input(0).SetFloat32(x); err != nil {
			t.Fatal(err)
		}
		if err := ip.Invoke(); err != nil {
			t.Fatal(err)
		}
	}
	run([]float32{4, 9, 0})
	got := make([]float32, 3)
	if err := ip.Output(0).ReadFiniteFloat32(got); err != nil || !slices.Equal(got, []float32{2, 3, 0}) {
		t.Fatalf("√[4 9 0] = %v, %v", got, err)
	}
	if err := ip.Output(0).CheckFinite(); err != nil {
		t.Fatalf("CheckFinite of √[4 9 0]: %v", err)
	}
	run([]float32{4, -1, 0})
	if err := ip.Output(0).CheckFinite(); !errors.Is(err, tflite.ErrNotFinite) || !strings.Contains(err.Error(), `output 0 "root" float32[3]: value 1 is NaN`) {
		t.Errorf("CheckFinite of √-1: %v", err)
	}
	err = ip.Output(0).ReadFiniteFloat32(got)
	if !errors.Is(err, tflite.ErrNotFinite) || !strings.Contains(err.Error(), `output 0 "root" float32[3]: value 1 is NaN`) {
		t.Errorf("√-1 read as finite: %v", err)
	}
	if _, err := ip.Output(0).FiniteFloat32(); !errors.Is(err, tflite.ErrNotFinite) {
		t.Errorf("FiniteFloat32 of √-1: %v", err)
	}
	if v, err := ip.Output(0).Float32(); err != nil || !math.IsNaN(float64(v[1])) {
		t.Errorf("Float32 reads NaN as it is: %v, %v", v, err)
	}
}
