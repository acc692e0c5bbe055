// Package tfl is the TensorFlow Lite flatbuffer format ("TFL3", schema version 3) as plain Go
// values: a Model mirrors the schema's tables field for field, Marshal writes it and Unmarshal
// reads it back with every offset bounds-checked, so a corrupt file is an error and never a panic.
//
// The field layout follows TFLite's public schema.fbs; only the parts edged writes are modelled
// (the operators a ViT/BERT block needs, quantization, signatures, metadata). Options tables of
// other operators are read as UnknownOptions so that any .tflite can be inspected, but such a
// model cannot be written back.
package tfl

import "fmt"

// Identifier is the flatbuffers file identifier of a TFLite model (bytes 4..8 of the file).
const Identifier = "TFL3"

// SchemaVersion is the value of Model.version for the current TFLite schema.
const SchemaVersion = 3

// TensorType is the element type of a tensor (schema enum TensorType).
type TensorType int8

// Tensor types of the schema. Values are the schema's; do not renumber.
const (
	Float32    TensorType = 0
	Float16    TensorType = 1
	Int32      TensorType = 2
	Uint8      TensorType = 3
	Int64      TensorType = 4
	String     TensorType = 5
	Bool       TensorType = 6
	Int16      TensorType = 7
	Complex64  TensorType = 8
	Int8       TensorType = 9
	Float64    TensorType = 10
	Complex128 TensorType = 11
	Uint64     TensorType = 12
	Resource   TensorType = 13
	Variant    TensorType = 14
	Uint32     TensorType = 15
	Uint16     TensorType = 16
	Int4       TensorType = 17
)

var tensorTypeNames = [...]string{
	"FLOAT32", "FLOAT16", "INT32", "UINT8", "INT64", "STRING", "BOOL", "INT16", "COMPLEX64",
	"INT8", "FLOAT64", "COMPLEX128", "UINT64", "RESOURCE", "VARIANT", "UINT32", "UINT16", "INT4",
}

// String returns the schema name of the type, e.g. "FLOAT32".
func (t TensorType) String() string {
	if t >= 0 && int(t) < len(tensorTypeNames) {
		return tensorTypeNames[t]
	}
	return fmt.Sprintf("TensorType(%d)", int8(t))
}

// Size returns the number of bytes of one element, or 0 for types without a fixed size
// (STRING, RESOURCE, VARIANT, INT4).
func (t TensorType) Size() int {
	switch t {
	case Bool, Int8, Uint8:
		return 1
	case Float16, Int16, Uint16:
		return 2
	case Float32, Int32, Uint32:
		return 4
	case Float64, Int64, Uint64, Complex64:
		return 8
	case Complex128:
		return 16
	}
	return 0
}

// Model is the root table of a .tflite file.
type Model struct {
	Version       uint32 // schema version, SchemaVersion for files edged writes
	OperatorCodes []OperatorCode
	Subgraphs     []Subgraph // the first one is the main graph
	Description   string
	Buffers       []Buffer // Buffers[0] must be the empty sentinel buffer
	Metadata      []Metadata
	SignatureDefs []SignatureDef
}

// OperatorCode names an operator kind and the version of its kernel that the model needs.
type OperatorCode struct {
	Builtin BuiltinOp
	Custom  string // name of a custom op when Builtin is CUSTOM
	Version int32
}

// Subgraph is a list of tensors and the operators between them, in execution order.
type Subgraph struct {
	Name      string
	Tensors   []Tensor
	Inputs    []int32 // tensor indices
	Outputs   []int32 // tensor indices
	Operators []Operator
}

// Tensor describes one tensor of a subgraph. Constant tensors point to a non-empty buffer.
type Tensor struct {
	Name  string
	Type  TensorType
	Shape []int32
	// ShapeSignature repeats Shape with -1 for dimensions that may change at run time
	// (e.g. the sequence length of a text tower). Nil when every dimension is fixed.
	ShapeSignature []int32
	Buffer         uint32 // index into Model.Buffers; 0 for tensors without data
	Quantization   *Quantization
	IsVariable     bool
}

// Quantization holds affine quantization parameters: real = Scale * (q - ZeroPoint).
// One Scale/ZeroPoint pair is per-tensor; several are per-channel along QuantizedDimension.
type Quantization struct {
	Min, Max           []float32 // optional calibration range, informative only
	Scale              []float32
	ZeroPoint          []int64
	QuantizedDimension int32
}

// Operator is one node: an index into Model.OperatorCodes, tensor indices (-1 marks an
// omitted optional input) and the operator's options table.
type Operator struct {
	OpcodeIndex uint32
	Inputs      []int32
	Outputs     []int32
	Options     Options // nil when the operator has no options table
}

// Buffer is raw little-endian tensor data (or metadata bytes).
type Buffer struct {
	Data []byte
}

// Metadata names a buffer that carries model metadata (e.g. edged's manifest).
type Metadata struct {
	Name   string
	Buffer uint32
}

// TensorMap maps a signature name to a tensor index of the signature's subgraph.
type TensorMap struct {
	Name        string
	TensorIndex uint32
}

// SignatureDef is a named entry point with named inputs and outputs.
type SignatureDef struct {
	Inputs        []TensorMap
	Outputs       []TensorMap
	Key           string
	SubgraphIndex uint32
}
