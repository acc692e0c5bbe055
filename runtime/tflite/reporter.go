package tflite

/*
#include <stdint.h>
*/
import "C"

import (
	"strings"
	"sync"
	"sync/atomic"
)

// A reporter collects the messages TFLite's error reporter emits for one interpreter. The C
// trampoline in shim.c formats each message and calls edgedReport with the reporter's id; ids
// rather than Go pointers cross into C, and an unknown id is dropped instead of crashing.
type reporter struct {
	id   uintptr
	mu   sync.Mutex
	msgs []string
}

// maxReports bounds the messages kept for one call: a broken graph can report per node.
const maxReports = 32

var (
	reporters      sync.Map // uintptr -> *reporter
	nextReporterID atomic.Uintptr
)

func newReporter() *reporter {
	r := &reporter{id: nextReporterID.Add(1)}
	reporters.Store(r.id, r)
	live.reporters.Add(1)
	return r
}

// close unregisters the reporter; call it only after the interpreter is deleted.
func (r *reporter) close() {
	if _, ok := reporters.LoadAndDelete(r.id); ok {
		live.reporters.Add(-1)
	}
}

func (r *reporter) add(msg string) {
	// TFLite's messages may span lines; an error reads better on one.
	msg = strings.Join(strings.Fields(msg), " ")
	if msg == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) < maxReports {
		r.msgs = append(r.msgs, msg)
	}
}

// reset drops messages left over from calls that succeeded (TFLite also reports warnings).
func (r *reporter) reset() {
	r.mu.Lock()
	r.msgs = r.msgs[:0]
	r.mu.Unlock()
}

// take returns the messages since the last reset, joined, and clears them.
func (r *reporter) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.Join(r.msgs, "; ")
	r.msgs = r.msgs[:0]
	return s
}

//export edgedReport
func edgedReport(id C.uintptr_t, msg *C.char) {
	if r, ok := reporters.Load(uintptr(id)); ok {
		r.(*reporter).add(C.GoString(msg))
	}
}
