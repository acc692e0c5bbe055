package tflite

// The rpath makes `go test` and `go run` find the library in the checkout; the Makefile's
// release build adds $ORIGIN/../lib for an installed layout.

/*
#cgo CFLAGS: -I${SRCDIR}/../../third_party/tflite/include
#cgo linux,amd64 LDFLAGS: -L${SRCDIR}/../../third_party/tflite/lib/linux_amd64 -Wl,-rpath,${SRCDIR}/../../third_party/tflite/lib/linux_amd64 -ltensorflowlite_c
#cgo linux,arm64 LDFLAGS: -L${SRCDIR}/../../third_party/tflite/lib/linux_arm64 -Wl,-rpath,${SRCDIR}/../../third_party/tflite/lib/linux_arm64 -ltensorflowlite_c
#cgo linux LDFLAGS: -ldl
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"unsafe"
)

// ErrClosed is wrapped by the error of every method of a closed Model, Interpreter or one of
// its tensors.
var ErrClosed = errors.New("used after Close")

// ErrDelegateUnavailable wraps the error of a delegate whose library cannot be found or
// loaded, so callers can fall back to CPU with errors.Is.
var ErrDelegateUnavailable = errors.New("delegate library unavailable")

// Version returns the version of the TFLite C library, e.g. "2.9.1".
func Version() string {
	return C.GoString(C.TfLiteVersion())
}

// LibraryPath returns the file the TFLite C library was loaded from, or "" if the dynamic
// loader cannot say.
func LibraryPath() string {
	p := C.edged_tflite_library_path()
	if p == nil {
		return ""
	}
	defer C.free(unsafe.Pointer(p))
	return filepath.Clean(C.GoString(p))
}

// HandleCounts is the number of live native handles of each kind.
type HandleCounts struct {
	Models       int // TfLiteModel
	ModelBuffers int // C copies of model bytes from NewModel
	Interpreters int // TfLiteInterpreter
	Delegates    int // delegates owned by interpreters
	Reporters    int // error reporter registrations
}

// Total is the sum of all counts; zero when nothing leaks.
func (c HandleCounts) Total() int {
	return c.Models + c.ModelBuffers + c.Interpreters + c.Delegates + c.Reporters
}

// String lists the non-zero counts, e.g. "1 interpreter(s), 1 delegate(s)".
func (c HandleCounts) String() string {
	var parts []string
	for _, kv := range []struct {
		n    int
		name string
	}{{c.Models, "model"}, {c.ModelBuffers, "model buffer"}, {c.Interpreters, "interpreter"},
		{c.Delegates, "delegate"}, {c.Reporters, "reporter"}} {
		if kv.n != 0 {
			parts = append(parts, fmt.Sprintf("%d %s(s)", kv.n, kv.name))
		}
	}
	if len(parts) == 0 {
		return "no live handles"
	}
	return strings.Join(parts, ", ")
}

var live struct {
	models, modelBuffers, interpreters, delegates, reporters atomic.Int64
}

// LiveHandles reports the native handles that are open now: a leak counter for tests, in the
// spirit of GoCV's matprofile.
func LiveHandles() HandleCounts {
	return HandleCounts{
		Models:       int(live.models.Load()),
		ModelBuffers: int(live.modelBuffers.Load()),
		Interpreters: int(live.interpreters.Load()),
		Delegates:    int(live.delegates.Load()),
		Reporters:    int(live.reporters.Load()),
	}
}

// statusText names a TfLiteStatus for messages when the reporter said nothing.
func statusText(s C.TfLiteStatus) string {
	switch s {
	case C.kTfLiteOk:
		return "ok"
	case C.kTfLiteError:
		return "runtime error"
	case C.kTfLiteDelegateError:
		return "delegate error"
	case C.kTfLiteApplicationError:
		return "delegate application error"
	case C.kTfLiteDelegateDataNotFound:
		return "delegate data not found"
	case C.kTfLiteDelegateDataWriteError:
		return "delegate data write error"
	case C.kTfLiteDelegateDataReadError:
		return "delegate data read error"
	case C.kTfLiteUnresolvedOps:
		return "unresolved operators"
	}
	return fmt.Sprintf("status %d", int(s))
}
