package bench

import (
	"fmt"
	"strings"

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

// RuntimeOptions turns a delegate name and a thread count into interpreter options.
func RuntimeOptions(delegate string, threads int) (tflite.Options, error) {
	switch delegate {
	case DelegateNone:
		return tflite.Options{Delegate: tflite.DelegateNone, Threads: threads}, nil
	case DelegateXNNPack:
		return tflite.Options{Delegate: tflite.DelegateXNNPack, Threads: threads}, nil
	case DelegateXNNPackQS8:
		return tflite.Options{Delegate: tflite.DelegateXNNPack, XNNPackQS8: true, Threads: threads}, nil
	}
	return tflite.Options{}, fmt.Errorf("bench: unknown delegate %q (want %s)", delegate, strings.Join(Delegates, ", "))
}

// DelegateName is the inverse of RuntimeOptions for the CPU delegates.
func DelegateName(o tflite.Options) string {
	switch {
	case o.Delegate == tflite.DelegateNone:
		return DelegateNone
	case o.Delegate == tflite.DelegateXNNPack || o.Delegate == tflite.DelegateDefault:
		if o.XNNPackQS8 {
			return DelegateXNNPackQS8
		}
		return DelegateXNNPack
	}
	return string(o.Delegate)
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
