package tflite

import "testing"

// The XNNPACK options struct is declared by hand in shim.h (the 2.9 package ships no header).
// The library's defaults read through it are all zero, and num_threads lands where the library
// reads it: only a delegate made with more than one thread gets a thread pool. (That flags
// lands right is shown by TestXNNPackQuantizedPartitioning: QS8 changes what is delegated.)
func TestXNNPackOptionsLayout(t *testing.T) {
	if threads, flags := xnnpackDefaults(); threads != 0 || flags != 0 {
		t.Errorf("TfLiteXNNPackDelegateOptionsDefault() = {num_threads %d, flags %#x}, want zeros", threads, flags)
	}
	for threads, want := range map[int]int{0: 0, 1: 0, 2: 1, 4: 1} {
		if got := xnnpackThreadPool(threads); got != want {
			t.Errorf("num_threads %d: thread pool = %d, want %d", threads, got, want)
		}
	}
}

func TestHandleCountsString(t *testing.T) {
	if s := (HandleCounts{}).String(); s != "no live handles" {
		t.Errorf("zero counts: %q", s)
	}
	if s := (HandleCounts{Interpreters: 1, Delegates: 2}).String(); s != "1 interpreter(s), 2 delegate(s)" {
		t.Errorf("counts: %q", s)
	}
}

// TFLite's own kernels get one thread under XNNPACK (whose pool does the heavy work) unless
// asked otherwise, and Threads without a delegate.
func TestKernelThreadsDefaults(t *testing.T) {
	cases := []struct {
		in   Options
		want int
	}{
		{Options{Threads: 4}, 1},
		{Options{Threads: 4, Delegate: DelegateXNNPack}, 1},
		{Options{Threads: 4, Delegate: DelegateNone}, 4},
		{Options{Threads: 4, Delegate: DelegateXNNPack, KernelThreads: 3}, 3},
	}
	for _, c := range cases {
		got, err := c.in.withDefaults()
		if err != nil || got.KernelThreads != c.want || got.Threads != c.in.Threads {
			t.Errorf("%+v: got %+v, %v; want KernelThreads %d", c.in, got, err, c.want)
		}
	}
	if _, err := (Options{KernelThreads: -1}).withDefaults(); err == nil {
		t.Error("KernelThreads -1 accepted")
	}
}
