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
// "none+avx512-vnni"), and then "+bmm": edged's int8 kernels run before the delegate (and take
// BATCH_MATMUL too). Without a kernel they are off.

// SplitKernels splits a delegate name into the delegate and the kernel mode ("" for none).
func SplitKernels(name string) (delegate, kernel string) {
	rest, bmm := strings.CutSuffix(name, kernels.BatchMatMulSuffix)
	if i := strings.LastIndexByte(rest, '+'); i >= 0 && slices.Contains(kernels.Compiled(), rest[i+1:]) {
		if bmm {
			return rest[:i], rest[i+1:] + kernels.BatchMatMulSuffix
		}
		return rest[:i], rest[i+1:]
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
	auto := strings.HasPrefix(mode, kernels.Auto) || mode == "" || strings.HasPrefix(mode, kernels.BatchMatMulSuffix)
	if k == "" || (delegate == DelegateNone && auto) {
		return delegate, nil
	}
	if bmm {
		k += kernels.BatchMatMulSuffix
	}
	return delegate + "+" + k, nil
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
