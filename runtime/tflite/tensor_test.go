package tflite_test

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/x448/float16"

	"github.com/edged/edged/runtime/tflite"
)

// roundTrip is one dtype's setter and getters, fed through a RESHAPE model.
type roundTrip struct {
	dtype tflite.DType
	set   func(*tflite.Tensor) error        // sets the 6 test values
	get   func(*tflite.Tensor) (any, error) // allocating getter
	read  func(*tflite.Tensor) (any, error) // Read* into a fresh slice
	want  any
}

func roundTrips() []roundTrip {
	f32 := []float32{-1.5, 0, 1, 3.25, float32(math.Inf(1)), -1e-30}
	f16 := []float16.Float16{float16.Fromfloat32(-1.5), float16.Fromfloat32(0), float16.Fromfloat32(65504),
		float16.Fromfloat32(0.000061035156), float16.Inf(-1), float16.Fromfloat32(3.140625)}
	i8 := []int8{-128, -1, 0, 1, 42, 127}
	u8 := []uint8{0, 1, 127, 128, 200, 255}
	i32 := []int32{math.MinInt32, -1, 0, 1, 1 << 20, math.MaxInt32}
	i64 := []int64{math.MinInt64, -1, 0, 1, 1 << 40, math.MaxInt64}
	return []roundTrip{
		{tflite.Float32, func(t *tflite.Tensor) error { return t.SetFloat32(f32) },
			func(t *tflite.Tensor) (any, error) { return t.Float32() },
			func(t *tflite.Tensor) (any, error) { d := make([]float32, 6); return d, t.ReadFloat32(d) }, f32},
		{tflite.Float16, func(t *tflite.Tensor) error { return t.SetFloat16(f16) },
			func(t *tflite.Tensor) (any, error) { return t.Float16() },
			func(t *tflite.Tensor) (any, error) { d := make([]float16.Float16, 6); return d, t.ReadFloat16(d) }, f16},
		{tflite.Int8, func(t *tflite.Tensor) error { return t.SetInt8(i8) },
			func(t *tflite.Tensor) (any, error) { return t.Int8() },
			func(t *tflite.Tensor) (any, error) { d := make([]int8, 6); return d, t.ReadInt8(d) }, i8},
		{tflite.Uint8, func(t *tflite.Tensor) error { return t.SetUint8(u8) },
			func(t *tflite.Tensor) (any, error) { return t.Uint8() },
			func(t *tflite.Tensor) (any, error) { d := make([]uint8, 6); return d, t.ReadUint8(d) }, u8},
		{tflite.Int32, func(t *tflite.Tensor) error { return t.SetInt32(i32) },
			func(t *tflite.Tensor) (any, error) { return t.Int32() },
			func(t *tflite.Tensor) (any, error) { d := make([]int32, 6); return d, t.ReadInt32(d) }, i32},
		{tflite.Int64, func(t *tflite.Tensor) error { return t.SetInt64(i64) },
			func(t *tflite.Tensor) (any, error) { return t.Int64() },
			func(t *tflite.Tensor) (any, error) { d := make([]int64, 6); return d, t.ReadInt64(d) }, i64},
	}
}

func equalAny(a, b any) bool {
	switch a := a.(type) {
	case []float32:
		b := b.([]float32)
		return len(a) == len(b) && slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
	case []float16.Float16:
		return slices.Equal(a, b.([]float16.Float16))
	case []int8:
		return slices.Equal(a, b.([]int8))
	case []uint8:
		return slices.Equal(a, b.([]uint8))
	case []int32:
		return slices.Equal(a, b.([]int32))
	case []int64:
		return slices.Equal(a, b.([]int64))
	}
	return false
}

// Each dtype's values go in through the setter, through Invoke (RESHAPE copies bytes), and out
// through both getters, bit for bit; the input reads back too.
func TestTensorRoundTripEveryDType(t *testing.T) {
	noLeaks(t)
	for _, rt := range roundTrips() {
		t.Run(rt.dtype.String(), func(t *testing.T) {
			ip := newInterpreter(t, reshapeModel(t, rt.dtype), tflite.Options{})
			in, out := ip.Input(0), ip.Output(0)
			if in.Type() != rt.dtype || out.Type() != rt.dtype {
				t.Fatalf("types %s, %s; want %s", in.Type(), out.Type(), rt.dtype)
			}
			if !slices.Equal(in.Shape(), []int{2, 3}) || !slices.Equal(out.Shape(), []int{6}) || out.NumElements() != 6 {
				t.Fatalf("shapes %v, %v", in.Shape(), out.Shape())
			}
			if err := rt.set(in); err != nil {
				t.Fatal(err)
			}
			if err := ip.Invoke(); err != nil {
				t.Fatal(err)
			}
			for name, f := range map[string]func(*tflite.Tensor) (any, error){"get": rt.get, "read": rt.read} {
				for _, tensor := range []*tflite.Tensor{in, out} {
					got, err := f(tensor)
					if err != nil {
						t.Fatalf("%s %s: %v", name, tensor, err)
					}
					if !equalAny(got, rt.want) {
						t.Fatalf("%s %s = %v, want %v", name, tensor, got, rt.want)
					}
				}
			}
		})
	}
}

// Every setter and getter refuses the wrong type and the wrong count, naming the tensor.
func TestTensorTypeAndCountErrors(t *testing.T) {
	noLeaks(t)
	for _, rt := range roundTrips() {
		ip := newInterpreter(t, reshapeModel(t, rt.dtype), tflite.Options{})
		in, out := ip.Input(0), ip.Output(0)
		for _, other := range roundTrips() {
			if other.dtype == rt.dtype {
				continue
			}
			wantType := " on a " + rt.dtype.String() + " tensor"
			wantErr(t, other.set(in), `input 0 "x" `+rt.dtype.String()+"[2 3]", wantType)
			_, err := other.get(out)
			wantErr(t, err, `output 0 "y"`, wantType)
			_, err = other.read(out)
			wantErr(t, err, `output 0 "y"`, wantType)
		}
	}

	ip := newInterpreter(t, reshapeModel(t, tflite.Float32), tflite.Options{})
	in, out := ip.Input(0), ip.Output(0)
	wantErr(t, in.SetFloat32(make([]float32, 5)), `input 0 "x" float32[2 3]`, "SetFloat32 with 5 values, the tensor holds 6")
	wantErr(t, in.SetFloat32(nil), "SetFloat32 with 0 values, the tensor holds 6")
	wantErr(t, out.ReadFloat32(make([]float32, 7)), `output 0 "y" float32[6]`, "ReadFloat32 with 7 values, the tensor holds 6")
	wantErr(t, out.SetFloat32(make([]float32, 6)), `output 0 "y"`, "outputs are read-only")

	// Out of range and nil: errors, not panics.
	wantErr(t, ip.Input(1).SetFloat32(nil), "input 1 out of range: the model has 1 input(s)")
	_, err := ip.Output(-1).Float32()
	wantErr(t, err, "output -1 out of range: the model has 1 output(s)")
	if ip.Input(3).Name() != "" || ip.Input(3).Shape() != nil {
		t.Error("metadata of an out-of-range tensor should be empty")
	}
	var nilTensor *tflite.Tensor
	wantErr(t, nilTensor.SetInt8(nil), "nil tensor")
	var nilIP *tflite.Interpreter
	wantErr(t, nilIP.Invoke(), "nil interpreter")
	wantErr(t, nilIP.Input(0).SetFloat32(nil), "nil interpreter")
	if err := nilIP.Close(); err != nil {
		t.Error(err)
	}
}

// Per-tensor parameters come back as Scale/ZeroPoint and a one-entry Scales/ZeroPoints; the
// DEQUANTIZE output proves TFLite uses the same numbers: real = scale * (q - zero point),
// exact in float32 for these values.
func TestQuantizationPerTensor(t *testing.T) {
	noLeaks(t)
	ip := newInterpreter(t, dequantizeModel(t, tflite.Uint8, []float32{0.125}, []int64{128}, 0), tflite.Options{})
	q := ip.Input(0).Quantization()
	want := tflite.Quant{Scale: 0.125, ZeroPoint: 128, Scales: []float32{0.125}, ZeroPoints: []int32{128}}
	if q.Scale != want.Scale || q.ZeroPoint != want.ZeroPoint || !slices.Equal(q.Scales, want.Scales) ||
		!slices.Equal(q.ZeroPoints, want.ZeroPoints) || q.Axis != 0 || !q.Quantized() || q.PerChannel() {
		t.Fatalf("Quantization() = %+v, want %+v", q, want)
	}
	if oq := ip.Output(0).Quantization(); oq.Quantized() || oq.Scale != 0 {
		t.Errorf("float output reports quantization %+v", oq)
	}
	x := []uint8{0, 1, 127, 128, 129, 255}
	if err := ip.Input(0).SetUint8(x); err != nil {
		t.Fatal(err)
	}
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	got, err := ip.Output(0).Float32()
	if err != nil {
		t.Fatal(err)
	}
	for i := range x {
		if want := q.Scale * float32(int32(x[i])-q.ZeroPoint); got[i] != want {
			t.Fatalf("dequantized[%d] = %v, want %v", i, got[i], want)
		}
	}
}

// Per-channel parameters (axis 0 of a [2,3] int8 tensor) come back per channel, and TFLite's
// DEQUANTIZE applies channel c's scale and zero point to row c.
func TestQuantizationPerChannel(t *testing.T) {
	noLeaks(t)
	scales, zeros := []float32{0.5, 0.25}, []int64{1, -2}
	ip := newInterpreter(t, dequantizeModel(t, tflite.Int8, scales, zeros, 0), tflite.Options{})
	q := ip.Input(0).Quantization()
	if !q.PerChannel() || q.Axis != 0 || !slices.Equal(q.Scales, scales) || !slices.Equal(q.ZeroPoints, []int32{1, -2}) {
		t.Fatalf("Quantization() = %+v, want scales %v zero points %v on axis 0", q, scales, zeros)
	}
	if q.Scale != 0 {
		t.Errorf("per-channel tensor reports a per-tensor scale %v", q.Scale)
	}
	x := []int8{-128, 0, 127, -128, 0, 127}
	if err := ip.Input(0).SetInt8(x); err != nil {
		t.Fatal(err)
	}
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	got, err := ip.Output(0).Float32()
	if err != nil {
		t.Fatal(err)
	}
	for i := range x {
		c := i / 3
		if want := q.Scales[c] * float32(int32(x[i])-q.ZeroPoints[c]); got[i] != want {
			t.Fatalf("dequantized[%d] = %v, want %v", i, got[i], want)
		}
	}
}

func TestDTypeNames(t *testing.T) {
	for d, want := range map[tflite.DType]string{tflite.Float32: "float32", tflite.Float16: "float16",
		tflite.Int8: "int8", tflite.Uint8: "uint8", tflite.Int32: "int32", tflite.Int64: "int64",
		tflite.Bool: "bool", tflite.DType(99): "DType(99)"} {
		if d.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(d), d.String(), want)
		}
	}
	for d, size := range map[tflite.DType]int{tflite.Float32: 4, tflite.Float16: 2, tflite.Int8: 1, tflite.Int64: 8, tflite.String: 0} {
		if d.Size() != size {
			t.Errorf("%s.Size() = %d, want %d", d, d.Size(), size)
		}
	}
}

// SetFloat32From carries one interpreter's output into another's input bit for bit (an
// infinity and a denormal included), from the same interpreter too, and refuses what a
// setter refuses: another type, another count, an output as the destination, a closed source.
func TestSetFloat32From(t *testing.T) {
	noLeaks(t)
	want := []float32{-1.5, 0, 1, 3.25, float32(math.Inf(1)), -1e-40}
	src := newInterpreter(t, reshapeModel(t, tflite.Float32), tflite.Options{})
	dst := newInterpreter(t, reshapeModel(t, tflite.Float32), tflite.Options{})
	if err := src.Input(0).SetFloat32(want); err != nil {
		t.Fatal(err)
	}
	if err := src.Invoke(); err != nil {
		t.Fatal(err)
	}
	if err := dst.Input(0).SetFloat32From(src.Output(0)); err != nil {
		t.Fatal(err)
	}
	if err := dst.Invoke(); err != nil {
		t.Fatal(err)
	}
	got, err := dst.Output(0).Float32()
	if err != nil || !equalAny(got, want) {
		t.Fatalf("copied through another interpreter: %v, %v; want %v", got, err, want)
	}
	// Within one interpreter: its own output back into its input.
	if err := dst.Input(0).SetFloat32From(dst.Output(0)); err != nil {
		t.Fatal(err)
	}
	if got, err := dst.Input(0).Float32(); err != nil || !equalAny(got, want) {
		t.Fatalf("copied within an interpreter: %v, %v", got, err)
	}

	i8 := newInterpreter(t, reshapeModel(t, tflite.Int8), tflite.Options{})
	wantErr(t, dst.Input(0).SetFloat32From(i8.Output(0)), `output 0 "y" int8[6]`, "SetFloat32From (source) on a int8 tensor")
	wantErr(t, i8.Input(0).SetFloat32From(src.Output(0)), `input 0 "x" int8[2 3]`, "SetFloat32From on a int8 tensor")
	sum := newInterpreter(t, addModel(t, 4), tflite.Options{})
	wantErr(t, sum.Input(0).SetFloat32From(src.Output(0)), `input 0 "a" float32[1 4]`, "SetFloat32From with 6 values, the tensor holds 4", `(from output 0 "y" float32[6])`)
	wantErr(t, dst.Output(0).SetFloat32From(src.Output(0)), `output 0 "y"`, "outputs are read-only")
	wantErr(t, dst.Input(0).SetFloat32From(nil), "nil tensor")
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if err := dst.Input(0).SetFloat32From(src.Output(0)); !errors.Is(err, tflite.ErrClosed) {
		t.Errorf("from a closed interpreter: %v, want ErrClosed", err)
	}
}

// Copies in both directions between two interpreters at once finish: the locks are taken in
// one order whichever tensor is the destination.
func TestSetFloat32FromBothWays(t *testing.T) {
	noLeaks(t)
	a := newInterpreter(t, reshapeModel(t, tflite.Float32), tflite.Options{})
	b := newInterpreter(t, reshapeModel(t, tflite.Float32), tflite.Options{})
	done := make(chan error, 2)
	copies := func(dst, src *tflite.Interpreter) {
		for range 2000 {
			if err := dst.Input(0).SetFloat32From(src.Input(0)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}
	go copies(a, b)
	go copies(b, a)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
