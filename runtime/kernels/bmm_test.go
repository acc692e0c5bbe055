package kernels_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/runtime/kernels"
	"github.com/edged/edged/runtime/tflite"
)

// bmmCase is one int8 BATCH_MATMUL of two activations, both with zero points.
type bmmCase struct {
	ls, rs     []int // shapes
	adjX, adjY bool
	sl, sr, sy float32
	zl, zr, zy int64
	l, r       []int8
}

func (c bmmCase) String() string {
	return fmt.Sprintf("%v (adj_x=%v, zl=%d) × %v (adj_y=%v, zr=%d), zy=%d", c.ls, c.adjX, c.zl, c.rs, c.adjY, c.zr, c.zy)
}

func numel(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

func randomBMM(r *rand.Rand, lb, rb []int, m, k, n int, adjX, adjY bool) bmmCase {
	c := bmmCase{adjX: adjX, adjY: adjY}
	c.ls = append(append([]int(nil), lb...), m, k)
	if adjX {
		c.ls = append(append([]int(nil), lb...), k, m)
	}
	c.rs = append(append([]int(nil), rb...), k, n)
	if adjY {
		c.rs = append(append([]int(nil), rb...), n, k)
	}
	c.sl, c.sr = float32(0.001+r.Float64()*0.1), float32(0.001+r.Float64()*0.1)
	c.zl, c.zr, c.zy = zeroPoints[r.IntN(len(zeroPoints))], zeroPoints[r.IntN(len(zeroPoints))], zeroPoints[r.IntN(len(zeroPoints))]
	c.sy = float32(74 * 74 * math.Sqrt(float64(k)) * float64(c.sl) * float64(c.sr) / (50 + r.Float64()*350))
	c.l, c.r = randInt8(r, numel(c.ls)), randInt8(r, numel(c.rs))
	return c
}

func (c bmmCase) model(t testing.TB) []byte {
	t.Helper()
	g := graph.New("bmm")
	l := g.QuantizedInput("l", graph.Int8, graph.PerTensor(c.sl, c.zl), c.ls...)
	r := g.QuantizedInput("r", graph.Int8, graph.PerTensor(c.sr, c.zr), c.rs...)
	g.Output("y", g.BatchMatMul(l, r, c.adjX, c.adjY, graph.OutQuant(graph.PerTensor(c.sy, c.zy))))
	data, err := g.Marshal()
	if err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	return data
}

func (c bmmCase) run(t testing.TB, opts tflite.Options) ([]int8, tflite.Delegation) {
	t.Helper()
	return runInt8(t, c.model(t), opts, c.l, c.r)
}

// TestBatchMatMulEqualsTFLite: int8 BATCH_MATMUL with zero points on both sides, every adjoint
// combination, broadcast batches and attention's shapes, on every kernel and 1-3 threads:
// TFLite's results bit for bit.
func TestBatchMatMulEqualsTFLite(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 6))
	shapes := []struct {
		lb, rb  []int
		m, k, n int
	}{
		{nil, nil, 1, 1, 1}, {[]int{1, 12}, []int{1, 12}, 50, 64, 50}, {[]int{1, 12}, []int{1, 12}, 50, 50, 64},
		{[]int{2}, []int{2}, 7, 33, 17}, {[]int{3, 1}, []int{1, 4}, 5, 9, 6}, {[]int{2, 3}, []int{3}, 4, 20, 19},
		{[]int{5}, nil, 13, 31, 3}, {[]int{1, 2}, []int{1, 2}, 97, 16, 97},
	}
	for _, s := range shapes {
		for _, adj := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			c := randomBMM(r, s.lb, s.rb, s.m, s.k, s.n, adj[0], adj[1])
			want, _ := c.run(t, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Off})
			for _, k := range kernels.Available() {
				for _, threads := range []int{1, 3} {
					got, d := c.run(t, tflite.Options{Delegate: tflite.DelegateNone, Threads: threads, Kernels: k})
					if claims := d.KernelNodes == 1; claims != (k != kernels.AVX2) {
						// avx2 splits weight pairs when packing (kn_split_pairs): too many in
						// activations to do every run, so it leaves BATCH_MATMUL to TFLite.
						t.Fatalf("%s, %v: the kernels took %d operators: %v", k, c, d.KernelNodes, d)
					}
					if diff := firstDiff(got, want); diff != "" {
						t.Errorf("%s, %d threads, %v: %s", k, threads, c, diff)
					}
				}
			}
		}
	}
}

// TestBatchMatMulModes: the kernels take BATCH_MATMUL by default, with +bmm (the opt-in of
// before, kept) the same, and leave it with -bmm, under the none delegate and under XNNPACK.
func TestBatchMatMulModes(t *testing.T) {
	c := randomBMM(rand.New(rand.NewPCG(19, 8)), []int{1, 2}, []int{1, 2}, 9, 16, 7, false, true)
	want, _ := c.run(t, tflite.Options{Delegate: tflite.DelegateNone, Threads: 1, Kernels: kernels.Off})
	var modes []string
	for _, k := range kernels.Available() {
		modes = append(modes, k, k+kernels.BatchMatMulSuffix, " "+strings.ToUpper(k+kernels.NoBatchMatMulSuffix)+" ")
	}
	modes = append(modes, kernels.Auto, "", kernels.BatchMatMulSuffix, kernels.Auto+kernels.NoBatchMatMulSuffix)
	for _, mode := range modes {
		for _, delegate := range []tflite.DelegateKind{tflite.DelegateNone, tflite.DelegateXNNPack} {
			k, bmm, err := kernels.Resolve(mode)
			if err != nil {
				t.Fatalf("%q: %v", mode, err)
			}
			if kernels.IsAuto(mode) && delegate == tflite.DelegateNone {
				k = "" // auto is off under none
			}
			got, d := c.run(t, tflite.Options{Delegate: delegate, XNNPackQS8: delegate == tflite.DelegateXNNPack, Threads: 2, Kernels: mode})
			wantNodes := 0
			if k != "" && bmm {
				wantNodes = 1
			}
			// avx2 never takes it: it would split the pairs of an activation every run.
			if bmm != (!strings.HasSuffix(strings.ToLower(strings.TrimSpace(mode)), kernels.NoBatchMatMulSuffix) && k != kernels.AVX2) && k != "" {
				t.Errorf("%q: Resolve says BATCH_MATMUL %v", mode, bmm)
			}
			if d.KernelNodes != wantNodes {
				t.Errorf("%q under %s: %v, want %d operator(s) on the kernels", mode, delegate, d, wantNodes)
			}
			if diff := firstDiff(got, want); diff != "" {
				t.Errorf("%q under %s: %s", mode, delegate, diff)
			}
		}
	}
	for _, mode := range []string{"off" + kernels.BatchMatMulSuffix, "off" + kernels.NoBatchMatMulSuffix, "auto+bmm+bmm", "auto-bmm-bmm", "auto+BMX", "-bmm-bmm"} {
		if _, _, err := kernels.Resolve(mode); err == nil {
			t.Errorf("%q: no error", mode)
		}
	}
}
