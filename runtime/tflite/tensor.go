package tflite

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/x448/float16"
)

// DType is a tensor element type; the values are TFLite's TfLiteType.
type DType int

// Element types of TFLite 2.9.
const (
	NoType     DType = 0
	Float32    DType = 1
	Int32      DType = 2
	Uint8      DType = 3
	Int64      DType = 4
	String     DType = 5
	Bool       DType = 6
	Int16      DType = 7
	Complex64  DType = 8
	Int8       DType = 9
	Float16    DType = 10
	Float64    DType = 11
	Complex128 DType = 12
	Uint64     DType = 13
	Resource   DType = 14
	Variant    DType = 15
	Uint32     DType = 16
)

var dtypeNames = [...]string{"notype", "float32", "int32", "uint8", "int64", "string", "bool",
	"int16", "complex64", "int8", "float16", "float64", "complex128", "uint64", "resource",
	"variant", "uint32"}

// String returns the lower-case name, e.g. "float32".
func (d DType) String() string {
	if d >= 0 && int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return fmt.Sprintf("DType(%d)", int(d))
}

// Size is the number of bytes of one element, or 0 for types without a fixed size.
func (d DType) Size() int {
	switch d {
	case Bool, Int8, Uint8:
		return 1
	case Int16, Float16:
		return 2
	case Float32, Int32, Uint32:
		return 4
	case Int64, Uint64, Float64, Complex64:
		return 8
	case Complex128:
		return 16
	}
	return 0
}

// Quant holds a tensor's affine quantization, real = scale * (q - zero_point).
type Quant struct {
	// Scale and ZeroPoint are the per-tensor parameters; Scale is 0 when the tensor is not
	// quantized or is quantized per channel.
	Scale     float32
	ZeroPoint int32
	// Scales and ZeroPoints hold one entry per channel along Axis (a single entry for
	// per-tensor quantization); nil when the tensor is not quantized.
	Scales     []float32
	ZeroPoints []int32
	Axis       int
}

// Quantized reports whether the tensor has quantization parameters.
func (q Quant) Quantized() bool { return len(q.Scales) > 0 }

// PerChannel reports whether the tensor has one scale per channel along Axis.
func (q Quant) PerChannel() bool { return len(q.Scales) > 1 }

// Tensor is an input or output of an Interpreter. It stays valid across ResizeInput (shape,
// size and data pointer are looked up on every call) and until the interpreter is closed.
// Getters copy out of TFLite's memory; Read* copy into a caller's slice without allocating.
type Tensor struct {
	ip     *Interpreter
	index  int
	output bool
	err    error // set for an out-of-range Input/Output
}

// cptr looks up the native tensor; the interpreter's lock must be held and ptr non-nil.
func (t *Tensor) cptr() *C.TfLiteTensor {
	if t.output {
		// const in the C API; runtime only reads through it (setters refuse outputs).
		return C.TfLiteInterpreterGetOutputTensor(t.ip.ptr, C.int32_t(t.index))
	}
	return C.TfLiteInterpreterGetInputTensor(t.ip.ptr, C.int32_t(t.index))
}

// lock takes the interpreter's lock and returns the native tensor, or an error for a closed
// interpreter or an out-of-range tensor. On success the caller must unlock.
func (t *Tensor) lock() (*C.TfLiteTensor, error) {
	if t == nil {
		return nil, fmt.Errorf("runtime: nil tensor")
	}
	if t.err != nil {
		return nil, t.err
	}
	if t.ip == nil {
		return nil, fmt.Errorf("runtime: tensor not obtained from an Interpreter")
	}
	t.ip.mu.Lock()
	if t.ip.ptr == nil {
		t.ip.mu.Unlock()
		return nil, fmt.Errorf("runtime: %s: interpreter %w", t.role(), ErrClosed)
	}
	return t.cptr(), nil
}

func (t *Tensor) role() string {
	if t.output {
		return fmt.Sprintf("output %d", t.index)
	}
	return fmt.Sprintf("input %d", t.index)
}

// describeLocked names the tensor for messages: `input 0 "pixel_values" float32[1 3 224 224]`.
func (t *Tensor) describeLocked() string {
	ct := t.cptr()
	return fmt.Sprintf("%s %q %s%v", t.role(), C.GoString(C.TfLiteTensorName(ct)),
		DType(C.TfLiteTensorType(ct)), t.shapeLocked())
}

func (t *Tensor) shapeLocked() []int {
	ct := t.cptr()
	n := int(C.TfLiteTensorNumDims(ct))
	if n < 0 {
		return nil
	}
	shape := make([]int, n)
	for i := range shape {
		shape[i] = int(C.TfLiteTensorDim(ct, C.int32_t(i)))
	}
	return shape
}

// numElements is the product of the tensor's dimensions, without allocating.
func numElements(ct *C.TfLiteTensor) int {
	n := 1
	for i := range C.TfLiteTensorNumDims(ct) {
		n *= int(C.TfLiteTensorDim(ct, i))
	}
	return n
}

// String describes the tensor, e.g. `input 0 "x" float32[1 4]`.
func (t *Tensor) String() string {
	if _, err := t.lock(); err != nil {
		return err.Error()
	}
	defer t.ip.mu.Unlock()
	return t.describeLocked()
}

// Name is the tensor's name in the model ("" for a closed interpreter or bad index).
func (t *Tensor) Name() string {
	ct, err := t.lock()
	if err != nil {
		return ""
	}
	defer t.ip.mu.Unlock()
	return C.GoString(C.TfLiteTensorName(ct))
}

// Shape is the tensor's current shape (a fresh slice).
func (t *Tensor) Shape() []int {
	if _, err := t.lock(); err != nil {
		return nil
	}
	defer t.ip.mu.Unlock()
	return t.shapeLocked()
}

// NumElements is the product of the shape (0 for a closed interpreter or bad index).
func (t *Tensor) NumElements() int {
	ct, err := t.lock()
	if err != nil {
		return 0
	}
	defer t.ip.mu.Unlock()
	return numElements(ct)
}

// Type is the tensor's element type.
func (t *Tensor) Type() DType {
	ct, err := t.lock()
	if err != nil {
		return NoType
	}
	defer t.ip.mu.Unlock()
	return DType(C.TfLiteTensorType(ct))
}

// Quantization returns the tensor's quantization parameters (copied).
func (t *Tensor) Quantization() Quant {
	ct, err := t.lock()
	if err != nil {
		return Quant{}
	}
	defer t.ip.mu.Unlock()
	p := C.TfLiteTensorQuantizationParams(ct)
	q := Quant{Scale: float32(p.scale), ZeroPoint: int32(p.zero_point)}
	var scales *C.float
	var zps *C.int
	var nzp, axis C.int
	ns := int(C.edged_tensor_affine(ct, &scales, &zps, &nzp, &axis))
	if ns > 0 {
		q.Scales = make([]float32, ns)
		for i, s := range unsafe.Slice(scales, ns) {
			q.Scales[i] = float32(s)
		}
		q.ZeroPoints = make([]int32, int(nzp))
		for i, z := range unsafe.Slice(zps, int(nzp)) {
			q.ZeroPoints[i] = int32(z)
		}
		q.Axis = int(axis)
	}
	return q
}

// element lists the Go types a tensor can be read into or written from; float16.Float16 is
// a uint16 holding the IEEE half-precision bits, as TFLite stores them.
type element interface {
	~float32 | ~int8 | ~uint8 | ~int32 | ~int64 | ~uint16
}

// check verifies type and element count for a copy of n elements of dtype want.
func (t *Tensor) check(ct *C.TfLiteTensor, op string, want DType, n, elemSize int) error {
	if got := DType(C.TfLiteTensorType(ct)); got != want {
		return fmt.Errorf("runtime: %s: %s on a %s tensor", t.describeLocked(), op, got)
	}
	count := numElements(ct)
	if n != count {
		return fmt.Errorf("runtime: %s: %s with %d values, the tensor holds %d", t.describeLocked(), op, n, count)
	}
	if got := int(C.TfLiteTensorByteSize(ct)); got != n*elemSize {
		return fmt.Errorf("runtime: %s: %s: tensor has %d bytes, want %d", t.describeLocked(), op, got, n*elemSize)
	}
	if n > 0 && C.TfLiteTensorData(ct) == nil {
		return fmt.Errorf("runtime: %s: %s: tensor memory is not allocated (a dynamic output before Invoke?)", t.describeLocked(), op)
	}
	return nil
}

func set[T element](t *Tensor, op string, want DType, src []T) error {
	ct, err := t.lock()
	if err != nil {
		return err
	}
	defer t.ip.mu.Unlock()
	if t.output {
		return fmt.Errorf("runtime: %s: %s: outputs are read-only", t.describeLocked(), op)
	}
	size := int(unsafe.Sizeof(*new(T)))
	if err := t.check(ct, op, want, len(src), size); err != nil {
		return err
	}
	if len(src) == 0 {
		return nil
	}
	if s := C.TfLiteTensorCopyFromBuffer(ct, unsafe.Pointer(&src[0]), C.size_t(len(src)*size)); s != C.kTfLiteOk {
		return fmt.Errorf("runtime: %s: %s: TfLiteTensorCopyFromBuffer: %s", t.describeLocked(), op, statusText(s))
	}
	return nil
}

func read[T element](t *Tensor, op string, want DType, dst []T) error {
	ct, err := t.lock()
	if err != nil {
		return err
	}
	defer t.ip.mu.Unlock()
	size := int(unsafe.Sizeof(*new(T)))
	if err := t.check(ct, op, want, len(dst), size); err != nil {
		return err
	}
	if len(dst) == 0 {
		return nil
	}
	if s := C.TfLiteTensorCopyToBuffer(ct, unsafe.Pointer(&dst[0]), C.size_t(len(dst)*size)); s != C.kTfLiteOk {
		return fmt.Errorf("runtime: %s: %s: TfLiteTensorCopyToBuffer: %s", t.describeLocked(), op, statusText(s))
	}
	return nil
}

// get allocates a slice of the tensor's size and reads into it. The size is looked up under
// the lock that read takes again; a resize in between makes read fail with a count error.
func get[T element](t *Tensor, op string, want DType) ([]T, error) {
	ct, err := t.lock()
	if err != nil {
		return nil, err
	}
	count := numElements(ct)
	t.ip.mu.Unlock()
	dst := make([]T, count)
	if err := read(t, op, want, dst); err != nil {
		return nil, err
	}
	return dst, nil
}

// SetFloat32 copies v into a float32 input tensor.
func (t *Tensor) SetFloat32(v []float32) error { return set(t, "SetFloat32", Float32, v) }

// SetFloat32From copies the data of src, a float32 tensor of any interpreter (another
// model's output, say), into this float32 input, which must hold as many values: one copy
// from TFLite's memory to TFLite's memory, none through Go's. src keeps its data.
func (t *Tensor) SetFloat32From(src *Tensor) error {
	const op = "SetFloat32From"
	unlock, err := lockPair(t, src)
	if err != nil {
		return err
	}
	defer unlock()
	if t.output {
		return fmt.Errorf("runtime: %s: %s: outputs are read-only", t.describeLocked(), op)
	}
	sc := src.cptr()
	n := numElements(sc)
	if err := src.check(sc, op+" (source)", Float32, n, 4); err != nil {
		return err
	}
	ct := t.cptr()
	if err := t.check(ct, op, Float32, n, 4); err != nil {
		return fmt.Errorf("%w (from %s)", err, src.describeLocked())
	}
	if n == 0 {
		return nil
	}
	if s := C.TfLiteTensorCopyFromBuffer(ct, C.TfLiteTensorData(sc), C.size_t(n*4)); s != C.kTfLiteOk {
		return fmt.Errorf("runtime: %s: %s: TfLiteTensorCopyFromBuffer: %s", t.describeLocked(), op, statusText(s))
	}
	return nil
}

// lockPair locks the interpreters of a and b (once when they share one) and returns the
// unlock. Two interpreters are locked in the order of their addresses, so that copies in
// both directions at once cannot deadlock.
func lockPair(a, b *Tensor) (unlock func(), err error) {
	for _, t := range []*Tensor{a, b} { // nil, out of range or closed: refused before any wait
		if _, err := t.lock(); err != nil {
			return nil, err
		}
		t.ip.mu.Unlock()
	}
	if a.ip == b.ip {
		if _, err := a.lock(); err != nil {
			return nil, err
		}
		return a.ip.mu.Unlock, nil
	}
	first, second := a, b
	if uintptr(unsafe.Pointer(b.ip)) < uintptr(unsafe.Pointer(a.ip)) {
		first, second = b, a
	}
	if _, err := first.lock(); err != nil {
		return nil, err
	}
	if _, err := second.lock(); err != nil {
		first.ip.mu.Unlock()
		return nil, err
	}
	return func() { second.ip.mu.Unlock(); first.ip.mu.Unlock() }, nil
}

// Float32 returns a copy of a float32 tensor's data.
func (t *Tensor) Float32() ([]float32, error) { return get[float32](t, "Float32", Float32) }

// ReadFloat32 copies a float32 tensor's data into dst, which must have its element count.
func (t *Tensor) ReadFloat32(dst []float32) error { return read(t, "ReadFloat32", Float32, dst) }

// SetInt8 copies v into an int8 input tensor.
func (t *Tensor) SetInt8(v []int8) error { return set(t, "SetInt8", Int8, v) }

// Int8 returns a copy of an int8 tensor's data.
func (t *Tensor) Int8() ([]int8, error) { return get[int8](t, "Int8", Int8) }

// ReadInt8 copies an int8 tensor's data into dst, which must have its element count.
func (t *Tensor) ReadInt8(dst []int8) error { return read(t, "ReadInt8", Int8, dst) }

// SetUint8 copies v into a uint8 input tensor.
func (t *Tensor) SetUint8(v []uint8) error { return set(t, "SetUint8", Uint8, v) }

// Uint8 returns a copy of a uint8 tensor's data.
func (t *Tensor) Uint8() ([]uint8, error) { return get[uint8](t, "Uint8", Uint8) }

// ReadUint8 copies a uint8 tensor's data into dst, which must have its element count.
func (t *Tensor) ReadUint8(dst []uint8) error { return read(t, "ReadUint8", Uint8, dst) }

// SetInt32 copies v into an int32 input tensor.
func (t *Tensor) SetInt32(v []int32) error { return set(t, "SetInt32", Int32, v) }

// Int32 returns a copy of an int32 tensor's data.
func (t *Tensor) Int32() ([]int32, error) { return get[int32](t, "Int32", Int32) }

// ReadInt32 copies an int32 tensor's data into dst, which must have its element count.
func (t *Tensor) ReadInt32(dst []int32) error { return read(t, "ReadInt32", Int32, dst) }

// SetInt64 copies v into an int64 input tensor.
func (t *Tensor) SetInt64(v []int64) error { return set(t, "SetInt64", Int64, v) }

// Int64 returns a copy of an int64 tensor's data.
func (t *Tensor) Int64() ([]int64, error) { return get[int64](t, "Int64", Int64) }

// ReadInt64 copies an int64 tensor's data into dst, which must have its element count.
func (t *Tensor) ReadInt64(dst []int64) error { return read(t, "ReadInt64", Int64, dst) }

// SetFloat16 copies v into a float16 input tensor.
func (t *Tensor) SetFloat16(v []float16.Float16) error { return set(t, "SetFloat16", Float16, v) }

// Float16 returns a copy of a float16 tensor's data.
func (t *Tensor) Float16() ([]float16.Float16, error) {
	return get[float16.Float16](t, "Float16", Float16)
}

// ReadFloat16 copies a float16 tensor's data into dst, which must have its element count.
func (t *Tensor) ReadFloat16(dst []float16.Float16) error {
	return read(t, "ReadFloat16", Float16, dst)
}
