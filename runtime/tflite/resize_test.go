package tflite_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/runtime/tflite"
)

// pairModel is sum = a + b with a and b both [B, n], B dynamic: once B > 1 the two inputs
// must change together, as token ids and key/value caches of a decoder step do.
func pairModel(t *testing.T, n int) []byte {
	t.Helper()
	g := graph.New("pair")
	a := g.Input("a", graph.Float32, graph.Dynamic, n)
	b := g.Input("b", graph.Float32, graph.Dynamic, n)
	g.Output("sum", g.Add(a, b))
	data, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func seq(n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i+1) * scale
	}
	return v
}

func checkSum(t *testing.T, ip *tflite.Interpreter, rows, n int) {
	t.Helper()
	a, b := seq(rows*n, 1), seq(rows*n, 0.5)
	got := runAdd(t, ip, a, b)
	if len(got) != rows*n {
		t.Fatalf("%d sums, want %d", len(got), rows*n)
	}
	for i := range got {
		if want := a[i] + b[i]; got[i] != want {
			t.Fatalf("sum[%d] = %v, want %v", i, got[i], want)
		}
	}
}

func wantShapes(t *testing.T, ip *tflite.Interpreter, want ...[]int) {
	t.Helper()
	for i, w := range want {
		if got := ip.Input(i).Shape(); !slices.Equal(got, w) {
			t.Fatalf("input %d shape %v, want %v", i, got, w)
		}
	}
}

func TestResizeInputsTogether(t *testing.T) {
	noLeaks(t)
	const n = 4
	data := pairModel(t, n)
	for _, c := range cpuConfigs {
		t.Run(c.name, func(t *testing.T) {
			ip := newInterpreter(t, data, c.opts)
			wantShapes(t, ip, []int{1, n}, []int{1, n})
			if err := ip.ResizeInputs(map[int][]int{0: {2, n}, 1: {2, n}}); err != nil {
				t.Fatal(err)
			}
			wantShapes(t, ip, []int{2, n}, []int{2, n})
			if got := ip.Output(0).Shape(); !slices.Equal(got, []int{2, n}) {
				t.Fatalf("output shape %v, want [2 %d]", got, n)
			}
			checkSum(t, ip, 2, n)

			// One at a time fails in between: [3,n] + [2,n] do not broadcast.
			err := ip.ResizeInput(0, []int{3, n})
			wantErr(t, err, `input 0 "a"`, "[3 4]", "broadcastable", "restored")
			wantShapes(t, ip, []int{2, n}, []int{2, n})

			// Together they succeed, with one allocation, and the result is right.
			if err := ip.ResizeInputs(map[int][]int{0: {3, n}, 1: {3, n}}); err != nil {
				t.Fatal(err)
			}
			wantShapes(t, ip, []int{3, n}, []int{3, n})
			checkSum(t, ip, 3, n)
			if c.opts.Delegate != tflite.DelegateNone {
				if d := ip.Delegation(); !d.Full() {
					t.Errorf("after ResizeInputs the delegate was re-applied but reports %v", d)
				}
			}

			// The current shapes are a no-op that keeps the inputs' data; so is an empty map.
			a := seq(3*n, 1)
			for _, shapes := range []map[int][]int{{0: {3, n}, 1: {3, n}}, {1: {3, n}}, nil} {
				if err := ip.ResizeInputs(shapes); err != nil {
					t.Fatal(err)
				}
				if got, err := ip.Input(0).Float32(); err != nil || !slices.Equal(got, a) {
					t.Fatalf("input after a same-shape ResizeInputs(%v) = %v, %v; want %v", shapes, got, err, a)
				}
			}

			// Shapes that do not agree: TFLite's reason, both inputs named, old shapes back.
			err = ip.ResizeInputs(map[int][]int{0: {4, n}, 1: {5, n}})
			wantErr(t, err, `input 0 "a"`, "to [4 4]", `input 1 "b"`, "to [5 4]", "broadcastable", "restored")
			wantShapes(t, ip, []int{3, n}, []int{3, n})
			checkSum(t, ip, 3, n)

			// Bad requests name the input and change nothing.
			wantErr(t, ip.ResizeInputs(map[int][]int{0: {4, n}, 2: {4, n}}), "resize input 2: out of range, the model has 2 input(s)")
			wantErr(t, ip.ResizeInputs(map[int][]int{0: {4, n}, 1: {4, -1}}), `input 1 "b"`, "dimension 1 is -1")
			wantErr(t, ip.ResizeInputs(map[int][]int{0: {4, n}, 1: nil}), `input 1 "b"`, "empty shape")
			wantShapes(t, ip, []int{3, n}, []int{3, n})
			checkSum(t, ip, 3, n)

			// Back down to one row, and a single input through ResizeInputs.
			if err := ip.ResizeInputs(map[int][]int{0: {1, n}, 1: {1, n}}); err != nil {
				t.Fatal(err)
			}
			checkSum(t, ip, 1, n)
			if err := ip.ResizeInputs(map[int][]int{0: {2, n}}); err != nil { // [2,n] + [1,n] broadcasts
				t.Fatal(err)
			}
			wantShapes(t, ip, []int{2, n}, []int{1, n})
		})
	}
}

func TestResizeInputsAfterClose(t *testing.T) {
	noLeaks(t)
	ip := newInterpreter(t, pairModel(t, 2), tflite.Options{Threads: 1})
	ip.Close()
	if err := ip.ResizeInputs(map[int][]int{0: {2, 2}}); !errors.Is(err, tflite.ErrClosed) {
		t.Fatalf("ResizeInputs after Close: %v, want ErrClosed", err)
	}
	var nilIP *tflite.Interpreter
	if err := nilIP.ResizeInputs(nil); err == nil {
		t.Fatal("ResizeInputs on a nil interpreter: no error")
	}
}
