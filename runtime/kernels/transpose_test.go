package kernels_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/runtime/kernels"
	"github.com/edged/edged/runtime/tflite"
)

// TestTransposeEqualsTFLite: int8 TRANSPOSE of random shapes (ranks 1 to 5, sizes 1 to 9) and
// every kind of permutation (identity, trailing dimensions kept, last dimension moved),
// attention's [1, 50, 12, 64] ↔ [1, 12, 50, 64] among them, on each kernel: the same bytes as
// TFLite's own TRANSPOSE, and every TRANSPOSE taken.
func TestTransposeEqualsTFLite(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 21))
	type tc struct {
		shape, perm []int
	}
	cases := []tc{{[]int{1, 50, 12, 64}, []int{0, 2, 1, 3}}, {[]int{1, 12, 50, 64}, []int{0, 2, 1, 3}}, {[]int{3, 5}, []int{0, 1}}, {[]int{2, 0, 3}, []int{2, 1, 0}}}
	for range 60 {
		rank := 1 + r.IntN(5)
		shape := make([]int, rank)
		for i := range shape {
			shape[i] = 1 + r.IntN(9)
		}
		cases = append(cases, tc{shape, r.Perm(rank)})
	}
	for _, c := range cases {
		n := 1
		for _, d := range c.shape {
			n *= d
		}
		g := graph.New("transpose")
		x := g.QuantizedInput("x", graph.Int8, graph.PerTensor(0.05, -3), c.shape...)
		g.Output("y", g.Transpose(x, c.perm, graph.Named("y")))
		model, err := g.Marshal()
		if err != nil {
			t.Fatalf("%v %v: %v", c.shape, c.perm, err)
		}
		in := randInt8(r, n)
		want, _ := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Off}, nil, in)
		for _, kern := range kernels.Available() {
			name := fmt.Sprintf("%s %v perm %v", kern, c.shape, c.perm)
			got, d := invokeBytes(t, model, tflite.Options{Delegate: tflite.DelegateNone, Threads: 2, Kernels: kern}, nil, in)
			if n > 0 && d.KernelNodes != 1 {
				t.Errorf("%s: %v, want the TRANSPOSE taken", name, d)
			}
			if diff := firstDiff(got[0].([]int8), want[0].([]int8)); diff != "" {
				t.Errorf("%s: %s", name, diff)
			}
		}
	}
}
