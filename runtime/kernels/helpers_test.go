package kernels_test

import (
	"testing"

	"github.com/edged/edged/runtime/tflite"
)

// invoke runs model m with opts: resizes input 0 to shape when given, sets the inputs
// ([]int8 or []float32, in order), and returns every output ([]int8 or []float32) and what
// the delegates took.
func invoke(t testing.TB, m *tflite.Model, opts tflite.Options, shape []int, inputs ...any) ([]any, tflite.Delegation) {
	t.Helper()
	ip, err := tflite.NewInterpreter(m, opts)
	if err != nil {
		t.Fatalf("%+v: %v", opts, err)
	}
	defer ip.Close()
	if shape != nil {
		if err := ip.ResizeInput(0, shape); err != nil {
			t.Fatal(err)
		}
	}
	for i, in := range inputs {
		switch v := in.(type) {
		case []int8:
			err = ip.Input(i).SetInt8(v)
		case []float32:
			err = ip.Input(i).SetFloat32(v)
		default:
			t.Fatalf("input %d: %T", i, in)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	var out []any
	for i := range ip.OutputCount() {
		var y any
		if ip.Output(i).Type() == tflite.Float32 {
			y, err = ip.Output(i).Float32()
		} else {
			y, err = ip.Output(i).Int8()
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, y)
	}
	return out, ip.Delegation()
}

// invokeBytes is invoke on a model given as bytes.
func invokeBytes(t testing.TB, model []byte, opts tflite.Options, shape []int, inputs ...any) ([]any, tflite.Delegation) {
	t.Helper()
	m, err := tflite.NewModel(model)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	return invoke(t, m, opts, shape, inputs...)
}

// runInt8 runs a model with int8 inputs and returns its first (int8) output.
func runInt8(t testing.TB, model []byte, opts tflite.Options, inputs ...any) ([]int8, tflite.Delegation) {
	t.Helper()
	out, d := invokeBytes(t, model, opts, nil, inputs...)
	return out[0].([]int8), d
}
