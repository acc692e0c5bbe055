package graph_test

import (
	"math"
	"math/rand"
	"testing"

	"github.com/edged/edged/runtime/tflite"
)

// config is one way of running a model.
type config struct {
	name string
	opts tflite.Options
}

// String names the configuration in test messages.
func (c config) String() string { return c.name }

// delegates are the configurations every op test runs under: TFLite's own kernels and XNNPACK.
var delegates = []config{
	{"none", tflite.Options{Threads: 1, Delegate: tflite.DelegateNone}},
	{"xnnpack", tflite.Options{Threads: 1, Delegate: tflite.DelegateXNNPack}},
}

// int8Delegates adds XNNPACK with its signed int8 (QS8) kernels enabled, for int8 models.
var int8Delegates = append(append([]config(nil), delegates...),
	config{"xnnpack-qs8", tflite.Options{Threads: 1, Delegate: tflite.DelegateXNNPack, XNNPackQS8: true}})

// delegation records, per test and configuration, how much of the graph the delegate took.
var delegation = map[string]tflite.Delegation{}

// run loads model bytes, feeds inputs ([]float32, []int32, []int8 or []int64 in input order)
// and returns every output as []float32, []int32, []int64 or []int8.
func run(t *testing.T, model []byte, d config, inputs ...any) []any {
	t.Helper()
	return runResized(t, model, d, nil, inputs...)
}

// runResized is run with input i resized to shapes[i] first (nil entries keep the shape).
func runResized(t *testing.T, model []byte, d config, shapes [][]int, inputs ...any) []any {
	t.Helper()
	m, err := tflite.NewModel(model)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	defer m.Close()
	ip, err := tflite.NewInterpreter(m, d.opts)
	if err != nil {
		t.Fatalf("interpreter (%s): %v", d, err)
	}
	defer ip.Close()
	delegation[t.Name()+" "+d.name] = ip.Delegation()
	if ip.InputCount() != len(inputs) {
		t.Fatalf("model has %d inputs, test gives %d", ip.InputCount(), len(inputs))
	}
	for i, shape := range shapes {
		if shape != nil {
			if err := ip.ResizeInput(i, shape); err != nil {
				t.Fatalf("resize input %d (%s): %v", i, d, err)
			}
		}
	}
	for i, in := range inputs {
		var err error
		switch v := in.(type) {
		case []float32:
			err = ip.Input(i).SetFloat32(v)
		case []int32:
			err = ip.Input(i).SetInt32(v)
		case []int64:
			err = ip.Input(i).SetInt64(v)
		case []int8:
			err = ip.Input(i).SetInt8(v)
		default:
			t.Fatalf("input %d: unsupported %T", i, in)
		}
		if err != nil {
			t.Fatalf("set input %d: %v", i, err)
		}
	}
	if err := ip.Invoke(); err != nil {
		t.Fatalf("invoke (%s): %v", d, err)
	}
	outs := make([]any, ip.OutputCount())
	for i := range outs {
		o := ip.Output(i)
		var err error
		switch o.Type() {
		case tflite.Float32:
			outs[i], err = o.Float32()
		case tflite.Int32:
			outs[i], err = o.Int32()
		case tflite.Int64:
			outs[i], err = o.Int64()
		case tflite.Int8:
			outs[i], err = o.Int8()
		default:
			t.Fatalf("output %d: unsupported type %v", i, o.Type())
		}
		if err != nil {
			t.Fatalf("read output %d: %v", i, err)
		}
	}
	return outs
}

// closeTo fails unless |got-want| <= atol + rtol*|want| elementwise.
func closeTo(t *testing.T, what string, got, want []float32, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(float64(got[i])) || d > atol+rtol*math.Abs(float64(want[i])) {
			t.Fatalf("%s: element %d = %v, want %v (|diff| %.3g > %.3g + %.3g·|want|)", what, i, got[i], want[i], d, atol, rtol)
		}
	}
}

// uniform returns n values uniform in [lo, hi) with a fixed seed.
func uniform(seed int64, n int, lo, hi float32) []float32 {
	r := rand.New(rand.NewSource(seed))
	out := make([]float32, n)
	for i := range out {
		out[i] = lo + (hi-lo)*r.Float32()
	}
	return out
}
