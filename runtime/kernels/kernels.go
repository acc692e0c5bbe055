package kernels

/*
#include <stdlib.h>
#include "kernels.h"
*/
import "C"

import (
	"fmt"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Kernel names: one per instruction set, as Available lists them.
const (
	AVX512VNNI = "avx512-vnni" // x86-64 with AVX-512 VNNI (Ice Lake, Zen 4 and later)
	AVXVNNI    = "avx-vnni"    // x86-64 with the 256-bit AVX-VNNI (Alder Lake, the N100)
	AVX2       = "avx2"        // x86-64 with AVX2 and FMA (Haswell and later): the floor
	NEONDot    = "neon-dot"    // arm64 with the dot product (Pi 5, Jetson Orin)
	NEON       = "neon"        // arm64 (Pi 4)
	Generic    = "generic"     // portable C: for tests, never chosen by Auto
)

// Modes besides a kernel name.
const (
	Auto = "auto" // the best kernel of this CPU, none if it has no better one than generic
	Off  = "off"
)

// Compiled lists the kernels built into this binary, best first.
func Compiled() []string {
	var n C.int
	ps := unsafe.Slice(C.kn_paths(&n), int(n))
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = C.GoString(p.name)
	}
	return out
}

// Available lists the kernels this CPU runs, best first; Generic is always last.
func Available() []string {
	var n C.int
	var out []string
	for _, p := range unsafe.Slice(C.kn_paths(&n), int(n)) {
		if C.kn_path_supported(p) != 0 {
			out = append(out, C.GoString(p.name))
		}
	}
	return out
}

// Best is the kernel Auto chooses: the first of Available, or "" when only Generic is left
// (then XNNPACK's own kernels are the better choice).
func Best() string {
	if a := Available(); len(a) > 0 && a[0] != Generic {
		return a[0]
	}
	return ""
}

// The kernels take attention's int8 BATCH_MATMUL by default: measured on 2026-12-06 it is
// faster on both towers (CLIP B/32 int8 at 2 threads 9.8-10.9 ms against 10.8-12.6, BLIP base
// vision 169-245 ms against 234-325) for 2 MiB more memory per BLIP vision tower (BENCHMARKS.md).
const (
	// BatchMatMulSuffix after auto or a kernel name ("auto+bmm") asks for the default: it was
	// the opt-in before, and configurations that name it keep working.
	BatchMatMulSuffix = "+bmm"
	// NoBatchMatMulSuffix after auto or a kernel name ("auto-bmm", "avx2-bmm") leaves
	// BATCH_MATMUL to the next delegate or TFLite.
	NoBatchMatMulSuffix = "-bmm"
)

// splitMode splits a mode into its kernel part ("", auto, off or a name), whether it takes
// BATCH_MATMUL, and the suffix it was given ("" for none).
func splitMode(mode string) (kernel string, batchMatMul bool, suffix string) {
	m := strings.ToLower(strings.TrimSpace(mode))
	if s, ok := strings.CutSuffix(m, NoBatchMatMulSuffix); ok {
		return s, false, NoBatchMatMulSuffix
	}
	if s, ok := strings.CutSuffix(m, BatchMatMulSuffix); ok {
		return s, true, BatchMatMulSuffix
	}
	return m, true, ""
}

// takesBatchMatMul reports whether kernel ("" for none) takes attention's BATCH_MATMUL at all:
// avx2 does not (it splits the pairs of B that could saturate vpmaddubsw when it packs the
// weights, and a BATCH_MATMUL's B is an activation, to be split on every run, with far more
// such pairs).
func takesBatchMatMul(kernel string) bool {
	name := C.CString(kernel)
	defer C.free(unsafe.Pointer(name))
	p := C.kn_path_by_name(name)
	return p != nil && !bool(p.split_pairs)
}

// IsAuto reports whether mode is "" or auto, with or without a suffix: the CPU's best kernel.
func IsAuto(mode string) bool {
	k, _, _ := splitMode(mode)
	return k == "" || k == Auto
}

// Resolve turns a mode into the kernel to use ("" for none) and whether it takes BATCH_MATMUL
// (never without a kernel, nor on avx2: takesBatchMatMul). A mode is "" or auto (the CPU's best
// kernel), off, or a kernel name; auto and a name may end in NoBatchMatMulSuffix, which leaves BATCH_MATMUL out,
// or BatchMatMulSuffix, which changes nothing. A kernel this CPU cannot run is an error naming
// the ones it can.
func Resolve(mode string) (kernel string, batchMatMul bool, err error) {
	m, bmm, suffix := splitMode(mode)
	switch m {
	case "", Auto:
		k := Best()
		return k, bmm && takesBatchMatMul(k), nil
	case Off:
		if suffix != "" {
			return "", false, fmt.Errorf("kernels: %q: off takes no %s", mode, suffix)
		}
		return "", false, nil
	}
	for _, k := range Available() {
		if k == m {
			return k, bmm && takesBatchMatMul(k), nil
		}
	}
	for _, k := range Compiled() {
		if k == m {
			return "", false, fmt.Errorf("kernels: this CPU cannot run %s (it runs %s)", m, strings.Join(Available(), ", "))
		}
	}
	return "", false, fmt.Errorf("kernels: unknown kernel %q (want auto, off or one of %s; after auto or a kernel, %s leaves attention's BATCH_MATMUL out)",
		mode, strings.Join(Compiled(), ", "), NoBatchMatMulSuffix)
}

// Options configure a Delegate.
type Options struct {
	// Kernel is a kernel name of Available (not a mode: see Resolve).
	Kernel string
	// Threads is the number of threads a claimed operator runs on, the caller's included; the
	// others sleep between operators. 0 means 1.
	Threads int
	// BatchMatMul also claims int8 BATCH_MATMUL (attention's two products; Resolve's default).
	BatchMatMul bool
	// KeepDequantize leaves the DEQUANTIZE of computed int8 tensors to the next delegate or
	// TFLite (for tflite.Options.XNNPackDequantize); by default the kernels take them.
	KeepDequantize bool
	// Spin is how long a worker, after an operator, spins for the next one before it sleeps:
	// 0 means DefaultSpin, a negative value never spins.
	Spin time.Duration
}

// DefaultSpin bridges the gaps between the int8 layers of one Invoke (the operators XNNPACK
// and TFLite run between them last tens to a few hundred microseconds on ViT-B) while waking a
// sleeping worker costs 50-80 µs on a virtual machine; after the last layer the worker spins
// this long once, then sleeps (BENCHMARKS.md, "The worker's wake-up").
const DefaultSpin = 300 * time.Microsecond

// Delegate is a TFLite delegate that runs int8 FULLY_CONNECTED (and BATCH_MATMUL) nodes on
// this package's kernels. Give it to an interpreter before any other delegate, and close it
// after the interpreter.
type Delegate struct {
	mu     sync.Mutex
	ptr    *C.kn_delegate
	kernel string
}

// New creates a delegate.
func New(o Options) (*Delegate, error) {
	name := C.CString(o.Kernel)
	defer C.free(unsafe.Pointer(name))
	p := C.kn_path_by_name(name)
	if p == nil {
		return nil, fmt.Errorf("kernels: unknown kernel %q (compiled: %s)", o.Kernel, strings.Join(Compiled(), ", "))
	}
	if C.kn_path_supported(p) == 0 {
		return nil, fmt.Errorf("kernels: this CPU cannot run %s (it runs %s)", o.Kernel, strings.Join(Available(), ", "))
	}
	threads := max(o.Threads, 1)
	bmm := C.int(0)
	if o.BatchMatMul {
		bmm = 1
	}
	spin := o.Spin
	if spin == 0 {
		spin = DefaultSpin
	}
	deq := C.int(1)
	if o.KeepDequantize {
		deq = 0
	}
	d := C.kn_delegate_create(p, C.int(threads), bmm, deq, C.long(max(spin, 0).Nanoseconds()))
	if d == nil {
		return nil, fmt.Errorf("kernels: cannot create the %s delegate with %d threads", o.Kernel, threads)
	}
	return &Delegate{ptr: d, kernel: o.Kernel}, nil
}

// Kernel is the kernel the delegate runs.
func (d *Delegate) Kernel() string { return d.kernel }

// TFLiteDelegate is the delegate's TfLiteDelegate*, for TfLiteInterpreterOptionsAddDelegate.
func (d *Delegate) TFLiteDelegate() unsafe.Pointer {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ptr == nil {
		return nil
	}
	return unsafe.Pointer(C.kn_delegate_tflite(d.ptr))
}

// Claimed says what the delegate took over the last time TFLite applied it.
type Claimed struct {
	GraphNodes     int // operators in the graph the delegate was offered
	Nodes          int // operators it took
	Partitions     int // delegate nodes TFLite made of them
	FullyConnected int
	BatchMatMul    int
	Conv2D         int // patch embeddings (stride = kernel size)
	// WeightOnly counts the float FULLY_CONNECTED taken with the DEQUANTIZE of their int8
	// weights (weight-only int8, as convert writes int8-dynamic); Nodes counts those
	// DEQUANTIZE too, and the GATHER of rows of a table a FULLY_CONNECTED shares.
	WeightOnly int
	// Transpose counts int8 TRANSPOSE (attention's heads moved in and out of the batch
	// dimension): bytes moved in runs rather than one at a time, TFLite's result exactly.
	Transpose int
	// Dequantize counts the DEQUANTIZE of computed int8 tensors (where an int8 graph enters
	// float: attention's scores before the softmax), TFLite's result bit for bit, not after an
	// operator the kernels take; on amd64 only (BENCHMARKS.md).
	Dequantize int
	// Lookup counts int8 MUL and LOGISTIC taken as lookup tables: chains of them that are
	// functions of one int8 tensor (CLIP's QuickGELU), TFLite's int8 arithmetic bit for bit.
	Lookup int
	// LayerNorm counts the layer norms taken whole (the converter's nine float operators, with
	// the int8 QUANTIZE of the result when one alone reads it), TFLite's result bit for bit; on
	// amd64 only. Nodes counts their operators.
	LayerNorm int
}

// Claimed reports the operators taken by the last Prepare (at interpreter creation, and again
// after each resize).
func (d *Delegate) Claimed() Claimed {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ptr == nil {
		return Claimed{}
	}
	var g, n, p, fc, bmm, conv, wfc, tr, deq, lut, ln C.int
	C.kn_delegate_stats(d.ptr, &g, &n, &p, &fc, &bmm, &conv, &wfc, &tr, &deq, &lut, &ln)
	return Claimed{GraphNodes: int(g), Nodes: int(n), Partitions: int(p), FullyConnected: int(fc), BatchMatMul: int(bmm), Conv2D: int(conv), WeightOnly: int(wfc), Transpose: int(tr), Dequantize: int(deq), Lookup: int(lut), LayerNorm: int(ln)}
}

// Close frees the delegate and stops its threads; call it only after the interpreter using it
// is deleted. Closing twice is safe.
func (d *Delegate) Close() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ptr != nil {
		C.kn_delegate_delete(d.ptr)
		d.ptr = nil
	}
}
