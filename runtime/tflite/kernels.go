package tflite

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/edged/edged/runtime/kernels"
)

// kernelsFor is the kernel of runtime/kernels that opts asks for ("" for none) and whether it
// takes BATCH_MATMUL. Auto uses the CPU's best kernel under XNNPACK only (the none delegate
// means TFLite's own kernels); a kernel named explicitly also runs under none, which is how
// its results are compared with TFLite's.
func kernelsFor(opts Options) (string, bool, error) {
	k, bmm, err := kernels.Resolve(opts.Kernels)
	if err != nil {
		return "", false, fmt.Errorf("runtime: Options.Kernels: %w", err)
	}
	auto := kernels.IsAuto(opts.Kernels)
	switch {
	case k == "":
		return "", false, nil
	case auto && opts.Delegate != DelegateXNNPack:
		return "", false, nil
	case !auto && opts.Delegate != DelegateXNNPack && opts.Delegate != DelegateNone:
		return "", false, fmt.Errorf("runtime: Options.Kernels %q runs with the xnnpack and none delegates, not %q", opts.Kernels, opts.Delegate)
	}
	return k, bmm, nil
}

// KernelOf is the kernel of runtime/kernels an interpreter made with opts runs ("" for none):
// what Options.Kernels resolves to on this CPU under opts' delegate.
func KernelOf(opts Options) (string, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return "", err
	}
	k, _, err := kernelsFor(o)
	return k, err
}

// newKernels creates the kernels delegate opts asks for, nil when none. It runs on the threads
// XNNPACK would use: the cores the interpreter's owner gave it.
func newKernels(opts Options) (*kernels.Delegate, error) {
	name, bmm, err := kernelsFor(opts)
	if err != nil || name == "" {
		return nil, err
	}
	k, err := kernels.New(kernels.Options{Kernel: name, Threads: opts.Threads, BatchMatMul: bmm, KeepDequantize: opts.XNNPackDequantize, Spin: opts.KernelsSpin})
	if err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	live.delegates.Add(1)
	return k, nil
}

func closeKernels(k *kernels.Delegate) {
	if k != nil {
		k.Close()
		live.delegates.Add(-1)
	}
}

func kernelsPtr(k *kernels.Delegate) *C.TfLiteDelegate {
	if k == nil {
		return nil
	}
	return (*C.TfLiteDelegate)(k.TFLiteDelegate())
}

// skipKernels keeps the delegate's probe from counting the operators the kernels took.
func (d *delegate) skipKernels(k *kernels.Delegate) {
	if d != nil && d.probe != nil && k != nil {
		d.probe.skip = (*C.TfLiteDelegate)(unsafe.Pointer(k.TFLiteDelegate()))
	}
}
