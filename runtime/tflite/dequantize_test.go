package tflite_test

import (
	"encoding/binary"
	"testing"

	"github.com/x448/float16"

	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/runtime/tflite"
)

// dequantizeAddModel: y = dequantize(x) + c, with x int8 [2,4] (scale 0.25, zero point 3) and
// c a float32 constant: the entry of an int8 graph's float region.
func dequantizeAddModel(t testing.TB, c []float32) []byte {
	m := &tmModel{}
	x := m.add(tmTensor{name: "q", dtype: tflite.Int8, shape: []int32{2, 4}, scale: []float32{0.25}, zero: []int64{3}})
	r := m.add(tmTensor{name: "real", dtype: tflite.Float32, shape: []int32{2, 4}})
	ct := m.add(tmTensor{name: "c", dtype: tflite.Float32, shape: []int32{2, 4}, data: f32Bytes(c)})
	y := m.add(tmTensor{name: "y", dtype: tflite.Float32, shape: []int32{2, 4}})
	m.ops = []tmOp{
		{builtin: opDequantize, inputs: []int32{x}, outputs: []int32{r}, optType: optDequantize, options: emptyTable},
		{builtin: opAdd, inputs: []int32{r, ct}, outputs: []int32{y}, optType: optAdd, options: addOptions},
	}
	m.inputs, m.outputs = []int32{x}, []int32{y}
	return m.bytes(t)
}

// fp16FCModel: y = x·Wᵀ (+ a zero bias) with W [n,k] stored as float16 and widened by a DEQUANTIZE of the
// constant, as an fp16 bundle's weights are.
func fp16FCModel(t testing.TB, k, n int, w []float32) []byte {
	m := &tmModel{}
	half := make([]byte, 2*len(w))
	for i, v := range w {
		binary.LittleEndian.PutUint16(half[2*i:], float16.Fromfloat32(v).Bits())
	}
	x := m.add(tmTensor{name: "x", dtype: tflite.Float32, shape: []int32{1, int32(k)}})
	w16 := m.add(tmTensor{name: "w16", dtype: tflite.Float16, shape: []int32{int32(n), int32(k)}, data: half})
	w32 := m.add(tmTensor{name: "w", dtype: tflite.Float32, shape: []int32{int32(n), int32(k)}})
	bias := m.add(tmTensor{name: "bias", dtype: tflite.Float32, shape: []int32{int32(n)}, data: f32Bytes(make([]float32, n))})
	y := m.add(tmTensor{name: "y", dtype: tflite.Float32, shape: []int32{1, int32(n)}})
	m.ops = []tmOp{
		{builtin: opDequantize, inputs: []int32{w16}, outputs: []int32{w32}, optType: optDequantize, options: emptyTable},
		{builtin: opFullyConnected, inputs: []int32{x, w32, bias}, outputs: []int32{y}, optType: optFullyConnected, options: fullyConnectedOptions},
	}
	m.inputs, m.outputs = []int32{x}, []int32{y}
	return m.bytes(t)
}

// TestXNNPackDequantizeOfActivationsStaysOnTFLite checks Options.XNNPackDequantize: by default
// the DEQUANTIZE of a computed tensor runs on TFLite's kernel and the operators after it on
// XNNPACK; with the option XNNPACK takes both. The results are exact either way:
// (q - zero point) · scale + c in float32 has one rounding, the same on both kernels. Without
// edged's kernels, which would take both (runtime/kernels' TestResidualAddEqualsTFLite).
func TestXNNPackDequantizeOfActivationsStaysOnTFLite(t *testing.T) {
	noLeaks(t)
	c := []float32{0.5, -1, 2.25, 0, 100, -0.125, 3, 7.75}
	q := []int8{-128, -1, 0, 3, 4, 17, 100, 127}
	want := make([]float32, len(q))
	for i, v := range q {
		want[i] = float32(int32(v)-3)*0.25 + c[i]
	}
	for _, tc := range []struct {
		name                string
		opts                tflite.Options
		delegated, parts    int
		dequantizeOnXNNPACK bool
	}{
		{"default", tflite.Options{Threads: 1, XNNPackQS8: true, Kernels: "off"}, 1, 1, false},
		{"XNNPackDequantize", tflite.Options{Threads: 1, XNNPackQS8: true, XNNPackDequantize: true, Kernels: "off"}, 2, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ip := newInterpreter(t, dequantizeAddModel(t, c), tc.opts)
			d := ip.Delegation()
			if d.Nodes != 2 || d.DelegatedNodes != tc.delegated || d.Partitions != tc.parts {
				t.Fatalf("delegation %s, want %d of 2 operators in %d partition", d, tc.delegated, tc.parts)
			}
			got := testutil.Invoke(t, ip, q)
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("y[%d] = %v, want %v (q %d)", i, got[i], want[i], q[i])
				}
			}
		})
	}
}

// TestXNNPackDequantizeOfConstantsStaysOnXNNPACK checks that the DEQUANTIZE of constant fp16
// weights still goes to XNNPACK, which folds it into the FULLY_CONNECTED reading them: the
// whole graph is one partition, and the product is right.
func TestXNNPackDequantizeOfConstantsStaysOnXNNPACK(t *testing.T) {
	noLeaks(t)
	const k, n = 4, 3
	w := []float32{1, 0.5, -2, 0.25, 0, 1.5, 3, -1, 0.125, -0.5, 2, 4} // exact in float16
	x := []float32{2, -1, 0.5, 4}
	ip := newInterpreter(t, fp16FCModel(t, k, n, w), tflite.Options{Threads: 1})
	if d := ip.Delegation(); !d.Full() || d.Partitions != 1 {
		t.Fatalf("delegation %s, want both operators in one XNNPACK partition", d)
	}
	got := testutil.Invoke(t, ip, x)
	for j, want := range fcReference(x, w, make([]float32, n), k, n) { // exact: small binary fractions
		if float64(got[j]) != want {
			t.Errorf("y[%d] = %v, want %v", j, got[j], want)
		}
	}
}

// TestXNNPackDequantizeNeedsXNNPACK checks that the option is refused with another delegate,
// as the other XNNPACK flags are.
func TestXNNPackDequantizeNeedsXNNPACK(t *testing.T) {
	noLeaks(t)
	m, err := tflite.NewModel(addModel(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = tflite.NewInterpreter(m, tflite.Options{Delegate: tflite.DelegateNone, XNNPackDequantize: true})
	wantErr(t, err, "XNNPack flags", "none")
}

// A graph whose only operator is withheld leaves XNNPACK nothing to replace: the interpreter
// is made and runs on TFLite's kernel.
func TestXNNPackDequantizeAloneRunsOnTFLite(t *testing.T) {
	noLeaks(t)
	ip := newInterpreter(t, dequantizeModel(t, tflite.Int8, []float32{0.5}, []int64{-2}, 0), tflite.Options{Threads: 1, XNNPackQS8: true})
	if d := ip.Delegation(); d.DelegatedNodes != 0 || d.Partitions != 0 {
		t.Fatalf("delegation %s, want nothing delegated", d)
	}
	q := []int8{-128, -2, 0, 1, 100, 127}
	got := testutil.Invoke(t, ip, q)
	for i, v := range q {
		if want := float32(int32(v)+2) * 0.5; got[i] != want {
			t.Errorf("y[%d] = %v, want %v", i, got[i], want)
		}
	}
}
