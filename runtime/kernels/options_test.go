package kernels_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/edged/edged/runtime/kernels"
	"github.com/edged/edged/runtime/tflite"
)

// TestOptions: what tflite.Options.Kernels turns on, with which delegate, and the thread split
// beside XNNPACK.
func TestOptions(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 7))
	c := randomFC(r, []int{4}, 20, 30)
	model := c.model(t)
	m, err := tflite.NewModel(model)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	best := kernels.Best()
	for _, tc := range []struct {
		opts        tflite.Options
		kernel      string // "" when off
		xnnThreads  int
		errContains string
	}{
		// Auto: under XNNPACK only; on a full-int8 model XNNPACK keeps one thread.
		{tflite.Options{Threads: 2, XNNPackQS8: true}, best, 1, ""},
		{tflite.Options{Threads: 2}, best, 2, ""},
		{tflite.Options{Threads: 2, XNNPackQS8: true, XNNPackThreads: 2}, best, 2, ""},
		{tflite.Options{Threads: 2, XNNPackQS8: true, Kernels: "off"}, "", 2, ""},
		{tflite.Options{Threads: 2, Delegate: tflite.DelegateNone}, "", 2, ""},
		{tflite.Options{Threads: 2, Delegate: tflite.DelegateNone, Kernels: "generic"}, "generic", 2, ""},
		{tflite.Options{Kernels: "avx9000"}, "", 0, `unknown kernel "avx9000"`},
		{tflite.Options{Kernels: "off+bmm"}, "", 0, "off takes no +bmm"},
		{tflite.Options{Kernels: "off-bmm"}, "", 0, "off takes no -bmm"},
		{tflite.Options{Kernels: "generic+mm"}, "", 0, "-bmm leaves attention's BATCH_MATMUL out"},
		{tflite.Options{Threads: 2, Delegate: tflite.DelegateNone, Kernels: "generic-bmm"}, "generic", 2, ""},
		{tflite.Options{Kernels: "generic", Delegate: tflite.DelegateGPU}, "", 0, "runs with the xnnpack and none delegates"},
	} {
		ip, err := tflite.NewInterpreter(m, tc.opts)
		if tc.errContains != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errContains) {
				t.Errorf("%+v: error %v, want one containing %q", tc.opts, err, tc.errContains)
			}
			if ip != nil {
				ip.Close()
			}
			continue
		}
		if err != nil {
			t.Fatalf("%+v: %v", tc.opts, err)
		}
		d := ip.Delegation()
		if d.Kernels != tc.kernel || (tc.kernel != "" && d.KernelNodes != 1) {
			t.Errorf("%+v: %v, want kernel %q on the operator", tc.opts, d, tc.kernel)
		}
		if o := ip.Options(); o.XNNPackThreads != tc.xnnThreads {
			t.Errorf("%+v: XNNPackThreads %d, want %d", tc.opts, o.XNNPackThreads, tc.xnnThreads)
		}
		ip.Close()
	}
	if n := tflite.LiveHandles(); n.Delegates != 0 {
		t.Errorf("%v left open", n)
	}
}
