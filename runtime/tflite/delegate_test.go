package tflite_test

import (
	"math/rand/v2"
	"testing"

	"github.com/edged/edged/runtime/tflite"
	"github.com/edged/edged/runtime/tflite/tflitetest"
)

// The external delegate path end to end: TFLite's external delegate loads our test plugin,
// which hands out XNNPACK. Options reach the plugin (qs8=1 changes what it delegates), a bad
// option is refused with an error, and results match Go.
func TestExternalDelegatePlugin(t *testing.T) {
	noLeaks(t)
	plugin := tflitetest.BuildLibrary(t, tflitetest.Plugin, "libedged_test_delegate.so")
	ext := func(opts map[string]string) tflite.Options {
		return tflite.Options{Delegate: tflite.DelegateExternal, DelegateLibrary: plugin, DelegateOptions: opts}
	}

	const k, n = 16, 4
	r := rand.New(rand.NewPCG(13, 14))
	w, bias := randFloats(r, n*k), randFloats(r, n)
	ip := newInterpreter(t, fcModel(t, k, n, w, bias), ext(map[string]string{"num_threads": "2"}))
	if d := ip.Delegation(); d != (tflite.Delegation{Delegate: tflite.DelegateExternal, Nodes: 1, DelegatedNodes: 1, Partitions: 1}) {
		t.Errorf("Delegation() = %+v, want the FULLY_CONNECTED delegated", d)
	}
	x := randFloats(r, k)
	if err := ip.Input(0).SetFloat32(x); err != nil {
		t.Fatal(err)
	}
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	got, err := ip.Output(0).Float32()
	if err != nil {
		t.Fatal(err)
	}
	// Tolerance as TestFullyConnectedMatchesGo.
	for j, want := range fcReference(x, w, bias, k, n) {
		if d := float64(got[j]) - want; d > 1e-4 || d < -1e-4 {
			t.Fatalf("y[%d] = %v, want %v", j, got[j], want)
		}
	}

	int8Model := quantFCModel(t, quantFCCase(r, tflite.Int8))
	for opts, want := range map[string]int{"": 0, "1": 1} {
		o := map[string]string{}
		if opts != "" {
			o["qs8"] = opts
		}
		ip := newInterpreter(t, int8Model, ext(o))
		if d := ip.Delegation(); d.DelegatedNodes != want {
			t.Errorf("int8 model with options %v: %v, want %d delegated", o, d, want)
		}
	}

	m, err := tflite.NewModel(int8Model)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = tflite.NewInterpreter(m, ext(map[string]string{"cache": "/tmp"}))
	wantErr(t, err, "external delegate "+plugin+" with options {cache=/tmp}", "the plugin returned no delegate: test plugin: unknown option")
}

// The GPU delegate path with a stand-in library (no GPU here): dlopen, the three entry points,
// DelegateOptions mapped onto TFLite 2.9's option fields (the stand-in accepts exactly the
// defaults or the set below), a larger options struct from a newer library kept intact, and
// deletion through the library's own function.
func TestGPUDelegateWithStandIn(t *testing.T) {
	noLeaks(t)
	lib := tflitetest.BuildLibrary(t, "fake_gpu_delegate.c", tflite.GPUDelegateLibrary)
	r := rand.New(rand.NewPCG(15, 16))
	data := fcModel(t, 8, 2, randFloats(r, 16), randFloats(r, 2))
	gpu := func(opts map[string]string) tflite.Options {
		return tflite.Options{Delegate: tflite.DelegateGPU, DelegateLibrary: lib, DelegateOptions: opts}
	}

	ip := newInterpreter(t, data, gpu(nil))
	if d := ip.Delegation(); !d.Full() || d.Delegate != tflite.DelegateGPU {
		t.Errorf("default options: Delegation() = %v", d)
	}
	newInterpreter(t, data, gpu(map[string]string{
		"precision_loss_allowed": "true", "inference_preference": "sustained_speed",
		"max_delegated_partitions": "3", "backend": "cl", "serialization_dir": "/tmp/k", "model_token": "tok",
	}))

	m, err := tflite.NewModel(data)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = tflite.NewInterpreter(m, gpu(map[string]string{"enable_quant": "false"}))
	wantErr(t, err, "gpu delegate "+lib+": TfLiteGpuDelegateV2Create failed")
}
