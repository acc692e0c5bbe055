package bench

import (
	"fmt"
	"slices"
	"strings"

	"github.com/edged/edged/runtime/kernels"
	"github.com/edged/edged/runtime/tflite"
)

// Delegate names as edged bench prints them: where the operators run.
const (
	DelegateNone       = "none"        // TFLite's built-in kernels only
	DelegateXNNPack    = "xnnpack"     // XNNPACK with default flags: float32 operators only
	DelegateXNNPackQS8 = "xnnpack+qs8" // XNNPACK with the QS8 flag: int8 operators too
)

// Delegates lists the delegate names in the order edged bench tries them.
var Delegates = []string{DelegateNone, DelegateXNNPack, DelegateXNNPackQS8}

// A delegate name may end in "+" and a kernel of runtime/kernels ("xnnpack+qs8+avx2",
// "none+avx512-vnni"), and then "+bmm" or "-bmm": edged's int8 kernels run before the delegate,
// with attention's BATCH_MATMUL or without. Without a kernel they are off. WithKernels always
// writes the suffix: a name with none comes from before BATCH_MATMUL was the default (until
// 2026-12-06 a bare kernel meant without it, "+bmm" with it), so results of either time read
// the same.

// SplitKernels splits a delegate name into the delegate and the kernel mode ("" for none).
func SplitKernels(name string) (delegate, kernel string) {
	rest, suffix := name, ""
	for _, s := range []string{kernels.BatchMatMulSuffix, kernels.NoBatchMatMulSuffix} {
		if r, ok := strings.CutSuffix(name, s); ok {
			rest, suffix = r, s
			break
		}
	}
	if i := strings.LastIndexByte(rest, '+'); i >= 0 && slices.Contains(kernels.Compiled(), rest[i+1:]) {
		return rest[:i], rest[i+1:] + suffix
	}
	return name, ""
}

// WithKernels names delegate with kernel mode mode (tflite.Options.Kernels) as the runtime
// resolves it: auto is the CPU's best kernel under XNNPACK and off under none.
func WithKernels(delegate, mode string) (string, error) {
	k, bmm, err := kernels.Resolve(mode)
	if err != nil {
		return "", err
	}
	if k == "" || (delegate == DelegateNone && kernels.IsAuto(mode)) {
		return delegate, nil
	}
	if bmm {
		return delegate + "+" + k + kernels.BatchMatMulSuffix, nil
	}
	return delegate + "+" + k + kernels.NoBatchMatMulSuffix, nil
}

// RuntimeOptions turns a delegate name and a thread count into interpreter options.
func RuntimeOptions(delegate string, threads int) (tflite.Options, error) {
	base, kernel := SplitKernels(delegate)
	if kernel == "" {
		kernel = kernels.Off
	}
	switch base {
	case DelegateNone:
		return tflite.Options{Delegate: tflite.DelegateNone, Threads: threads, Kernels: kernel}, nil
	case DelegateXNNPack:
		return tflite.Options{Delegate: tflite.DelegateXNNPack, Threads: threads, Kernels: kernel}, nil
	case DelegateXNNPackQS8:
		return tflite.Options{Delegate: tflite.DelegateXNNPack, XNNPackQS8: true, Threads: threads, Kernels: kernel}, nil
	}
	return tflite.Options{}, fmt.Errorf("bench: unknown delegate %q (want %s, each optionally +kernel)", delegate, strings.Join(Delegates, ", "))
}

// DelegateName is the inverse of RuntimeOptions for the CPU delegates.
func DelegateName(o tflite.Options) string {
	name := string(o.Delegate)
	switch {
	case o.Delegate == tflite.DelegateNone:
		name = DelegateNone
	case o.Delegate == tflite.DelegateXNNPack || o.Delegate == tflite.DelegateDefault:
		name = DelegateXNNPack
		if o.XNNPackQS8 {
			name = DelegateXNNPackQS8
		}
	}
	if _, k := SplitKernels(name + "+" + o.Kernels); k != "" {
		name += "+" + k
	}
	return name
}

// ParseList splits a comma-separated flag value, checking each item against allowed (any
// value is allowed when allowed is nil); "all" means every allowed value.
func ParseList(s string, allowed []string) ([]string, error) {
	if s == "all" && allowed != nil {
		return append([]string(nil), allowed...), nil
	}
	var out []string
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if allowed != nil && !contains(allowed, item) {
			return nil, fmt.Errorf("unknown value %q (want one of %s, or all)", item, strings.Join(allowed, ", "))
		}
		if !contains(out, item) {
			out = append(out, item)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty list")
	}
	return out, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}
