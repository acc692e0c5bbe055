package tflite

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// fileIdentifier is the flatbuffers identifier every TFLite model carries at bytes 4..8.
const fileIdentifier = "TFL3"

// Model is a loaded TFLite model. Create interpreters from it with NewInterpreter; one Model
// may back many interpreters, in any goroutines. Close it when no new interpreter is needed:
// its native memory is freed once the interpreters created from it are closed too.
type Model struct {
	mu     sync.Mutex
	ptr    *C.TfLiteModel
	buf    unsafe.Pointer // C copy of the bytes given to NewModel; nil for LoadModel
	mapped []byte         // the file's read-only mapping, for LoadModel; nil for NewModel
	source string         // file path, or a description of the bytes, for messages
	refs   int            // interpreters that still read ptr or buf
	closed bool
}

// LoadModel memory-maps the .tflite file at path; the weights are not copied into Go memory.
// The mapping is read-only and shared with the page cache: its pages are clean file pages
// (RssFile), which the kernel takes back under memory pressure. Each NewInterpreter and resize
// drops them from the process once the tensors are allocated (see Model.DropFilePages): XNNPACK has copied
// the weights it takes into its own buffers by then, and what TFLite's own kernels read later
// comes back from the page cache on the next access.
func LoadModel(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("runtime: load model: %w", err)
	}
	defer f.Close()
	head := make([]byte, 8)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("runtime: load model %s: %w", path, err)
	}
	if err := checkHeader(head[:n]); err != nil {
		return nil, fmt.Errorf("runtime: load model %s: %w", path, err)
	}
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("runtime: load model %s: %w", path, err)
	}
	if info.Size() != int64(int(info.Size())) {
		return nil, fmt.Errorf("runtime: load model %s: %d bytes is too large to map", path, info.Size())
	}
	mapped, err := syscall.Mmap(int(f.Fd()), 0, int(info.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("runtime: load model %s: mmap: %w", path, err)
	}
	// As TfLiteModelCreateFromFile, which maps the file the same way; mapping it here gives us
	// the address, so that the pages can be dropped once XNNPACK has packed the weights.
	ptr := C.TfLiteModelCreate(unsafe.Pointer(&mapped[0]), C.size_t(len(mapped)))
	if ptr == nil {
		syscall.Munmap(mapped)
		return nil, fmt.Errorf("runtime: load model %s: %w", path, errRejected)
	}
	m := newModel(ptr, nil, path)
	m.mapped = mapped
	return m, nil
}

// DropFilePages takes the pages of a model loaded with LoadModel out of the process's
// resident memory (madvise MADV_DONTNEED on the file's mapping); a model from NewModel has none.
// Nothing is lost: the mapping is read-only, and a page TFLite reads again is faulted back in
// from the page cache. NewInterpreter, ResizeInput and ResizeInputs call it once the tensors
// are allocated, when the delegate has packed the weights it took into its own memory, so that
// the file pages of those weights are not counted twice. What TFLite's own kernels read later
// is mapped again, and where the page cache holds the file in large folios (ext4 on recent
// kernels) a fault maps the whole folio, up to 2 MiB, so a small constant read beside a weight
// matrix (a shape, a permutation: our reading, not traced) can bring much of the file back
// (Linux 6.18: two byte-identical BLIP cross_kv files, 1 MiB and 48 MiB mapped again after an
// Invoke, as their page cache differed). Safe while other interpreters of the model run.
func (m *Model) DropFilePages() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mapped == nil {
		return nil
	}
	if err := syscall.Madvise(m.mapped, syscall.MADV_DONTNEED); err != nil {
		return fmt.Errorf("runtime: drop the pages of %s: %w", m.source, err)
	}
	return nil
}

// NewModel loads a model from its bytes. The bytes are copied once into C memory, which TFLite
// reads in place for as long as the model or any interpreter made from it is open; data may be
// reused by the caller as soon as NewModel returns.
func NewModel(data []byte) (*Model, error) {
	source := fmt.Sprintf("<%d bytes>", len(data))
	if err := checkHeader(data); err != nil {
		return nil, fmt.Errorf("runtime: load model %s: %w", source, err)
	}
	buf := C.CBytes(data)
	live.modelBuffers.Add(1)
	ptr := C.TfLiteModelCreate(buf, C.size_t(len(data)))
	if ptr == nil {
		C.free(buf)
		live.modelBuffers.Add(-1)
		return nil, fmt.Errorf("runtime: load model %s: %w", source, errRejected)
	}
	return newModel(ptr, buf, source), nil
}

// errRejected explains a NULL from TfLiteModelCreate*: the 2.9 C API gives no reason to the
// caller, only to stderr.
var errRejected = fmt.Errorf("TFLite rejected the file: not a valid TFLite flatbuffer " +
	"(corrupt or truncated; TFLite printed its reason to stderr)")

func checkHeader(head []byte) error {
	if len(head) < 8 {
		return fmt.Errorf("%d bytes is too short for a TFLite model", len(head))
	}
	if id := string(head[4:8]); id != fileIdentifier {
		return fmt.Errorf("not a TFLite model (file identifier %q, want %q)", id, fileIdentifier)
	}
	return nil
}

func newModel(ptr *C.TfLiteModel, buf unsafe.Pointer, source string) *Model {
	live.models.Add(1)
	m := &Model{ptr: ptr, buf: buf, source: source}
	runtime.SetFinalizer(m, func(m *Model) {
		if !m.isClosed() {
			slog.Warn("runtime: model garbage-collected without Close", "model", m.source)
			m.Close()
		}
	})
	return m
}

// Close releases the model. Interpreters already created from it keep working; the native
// memory goes when the last of them is closed. Closing twice is safe.
func (m *Model) Close() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	m.freeLocked()
	return nil
}

func (m *Model) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// acquire hands out the native model to a new interpreter and counts it as a user.
func (m *Model) acquire() (*C.TfLiteModel, error) {
	if m == nil {
		return nil, fmt.Errorf("runtime: nil model")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("runtime: model %s: %w", m.source, ErrClosed)
	}
	m.refs++
	return m.ptr, nil
}

// release ends an interpreter's use of the model.
func (m *Model) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refs--
	m.freeLocked()
}

// freeLocked frees the native model once it is closed and unused. The C API would allow
// deleting the TfLiteModel right after creating an interpreter, but the bytes given to
// TfLiteModelCreate must outlive every interpreter, so both go together.
func (m *Model) freeLocked() {
	if !m.closed || m.refs > 0 || m.ptr == nil {
		return
	}
	C.TfLiteModelDelete(m.ptr)
	m.ptr = nil
	live.models.Add(-1)
	if m.mapped != nil {
		syscall.Munmap(m.mapped)
		m.mapped = nil
	}
	if m.buf != nil {
		C.free(m.buf)
		m.buf = nil
		live.modelBuffers.Add(-1)
	}
}
