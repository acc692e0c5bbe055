package tfl

import "fmt"

// Options is an operator's builtin options table, one member of the schema's BuiltinOptions
// union. The concrete types below are the tables of the operators edged writes; UnknownOptions
// stands for any other member found when reading.
type Options interface {
	// UnionType is the member's index in the BuiltinOptions union (1-based, 0 is NONE).
	UnionType() uint8
	// fields lists the table's fields by slot, with pointers into the value, so one generic
	// writer and reader serve every options table.
	fields() []field
}

// field is one field of an options table: its slot, a pointer to the Go value (*bool, *int8,
// *int32, *float32 or *[]int32) and the schema default, which is not written.
type field struct {
	slot int
	ptr  any
	def  any
}

// Conv2DOptions configures CONV_2D.
type Conv2DOptions struct {
	Padding              Padding
	StrideW, StrideH     int32
	Activation           Activation
	DilationW, DilationH int32 // at least 1; 1 is the schema default
}

// UnionType implements Options.
func (*Conv2DOptions) UnionType() uint8 { return 1 }
func (o *Conv2DOptions) validate() error {
	if o.StrideW < 1 || o.StrideH < 1 || o.DilationW < 1 || o.DilationH < 1 {
		return fmt.Errorf("Conv2DOptions: strides (%d,%d) and dilations (%d,%d) must be at least 1",
			o.StrideH, o.StrideW, o.DilationH, o.DilationW)
	}
	return nil
}

func (o *Conv2DOptions) fields() []field {
	return []field{
		{0, (*int8)(&o.Padding), int8(0)},
		{1, &o.StrideW, int32(0)},
		{2, &o.StrideH, int32(0)},
		{3, (*int8)(&o.Activation), int8(0)},
		{4, &o.DilationW, int32(1)},
		{5, &o.DilationH, int32(1)},
	}
}

// FullyConnectedOptions configures FULLY_CONNECTED.
type FullyConnectedOptions struct {
	Activation    Activation
	WeightsFormat int8 // 0 DEFAULT, 1 SHUFFLED4x16INT8
	// KeepNumDims keeps the input's leading dimensions ([B,S,K] -> [B,S,N]) instead of
	// flattening them into one ([B*S,N]).
	KeepNumDims bool
	// AsymmetricQuantizeInputs makes a hybrid (float input, int8 weight) op quantize each
	// input row with its own zero point, which is more accurate for activations that are not
	// centred on zero.
	AsymmetricQuantizeInputs bool
}

// UnionType implements Options.
func (*FullyConnectedOptions) UnionType() uint8 { return 8 }
func (o *FullyConnectedOptions) fields() []field {
	return []field{
		{0, (*int8)(&o.Activation), int8(0)},
		{1, &o.WeightsFormat, int8(0)},
		{2, &o.KeepNumDims, false},
		{3, &o.AsymmetricQuantizeInputs, false},
	}
}

// SoftmaxOptions configures SOFTMAX: softmax(beta * x) over the last axis.
type SoftmaxOptions struct{ Beta float32 }

// UnionType implements Options.
func (*SoftmaxOptions) UnionType() uint8 { return 9 }
func (o *SoftmaxOptions) fields() []field {
	return []field{{0, &o.Beta, float32(0)}}
}

// ConcatenationOptions configures CONCATENATION.
type ConcatenationOptions struct {
	Axis       int32
	Activation Activation
}

// UnionType implements Options.
func (*ConcatenationOptions) UnionType() uint8 { return 10 }
func (o *ConcatenationOptions) fields() []field {
	return []field{{0, &o.Axis, int32(0)}, {1, (*int8)(&o.Activation), int8(0)}}
}

// AddOptions configures ADD.
type AddOptions struct {
	Activation Activation
	// NoPotScaleInt16 is the negation of the schema's pot_scale_int16 (default true), so that
	// the zero value is the default. It only matters for int16 kernels.
	NoPotScaleInt16 bool
}

// UnionType implements Options.
func (*AddOptions) UnionType() uint8 { return 11 }
func (o *AddOptions) fields() []field {
	return []field{{0, (*int8)(&o.Activation), int8(0)}, {1, (*notBool)(&o.NoPotScaleInt16), true}}
}

// L2NormOptions configures L2_NORMALIZATION (over the last axis).
type L2NormOptions struct{ Activation Activation }

// UnionType implements Options.
func (*L2NormOptions) UnionType() uint8 { return 12 }
func (o *L2NormOptions) fields() []field {
	return []field{{0, (*int8)(&o.Activation), int8(0)}}
}

// ReshapeOptions configures RESHAPE. The shape also travels as the op's second input.
type ReshapeOptions struct{ NewShape []int32 }

// UnionType implements Options.
func (*ReshapeOptions) UnionType() uint8 { return 17 }
func (o *ReshapeOptions) fields() []field {
	return []field{{0, &o.NewShape, nil}}
}

// MulOptions configures MUL.
type MulOptions struct{ Activation Activation }

// UnionType implements Options.
func (*MulOptions) UnionType() uint8 { return 21 }
func (o *MulOptions) fields() []field {
	return []field{{0, (*int8)(&o.Activation), int8(0)}}
}

// GatherOptions configures GATHER.
type GatherOptions struct {
	Axis      int32
	BatchDims int32
}

// UnionType implements Options.
func (*GatherOptions) UnionType() uint8 { return 23 }
func (o *GatherOptions) fields() []field {
	return []field{{0, &o.Axis, int32(0)}, {1, &o.BatchDims, int32(0)}}
}

// TransposeOptions configures TRANSPOSE (an empty table; the permutation is an input).
type TransposeOptions struct{}

// UnionType implements Options.
func (*TransposeOptions) UnionType() uint8 { return 26 }
func (*TransposeOptions) fields() []field  { return nil }

// ReducerOptions configures MEAN (and the other reductions).
type ReducerOptions struct{ KeepDims bool }

// UnionType implements Options.
func (*ReducerOptions) UnionType() uint8 { return 27 }
func (o *ReducerOptions) fields() []field {
	return []field{{0, &o.KeepDims, false}}
}

// SubOptions configures SUB.
type SubOptions struct {
	Activation      Activation
	NoPotScaleInt16 bool // see AddOptions
}

// UnionType implements Options.
func (*SubOptions) UnionType() uint8 { return 28 }
func (o *SubOptions) fields() []field {
	return []field{{0, (*int8)(&o.Activation), int8(0)}, {1, (*notBool)(&o.NoPotScaleInt16), true}}
}

// DivOptions configures DIV.
type DivOptions struct{ Activation Activation }

// UnionType implements Options.
func (*DivOptions) UnionType() uint8 { return 29 }
func (o *DivOptions) fields() []field {
	return []field{{0, (*int8)(&o.Activation), int8(0)}}
}

// StridedSliceOptions configures STRIDED_SLICE; each mask has bit i for dimension i.
type StridedSliceOptions struct {
	BeginMask, EndMask, EllipsisMask, NewAxisMask, ShrinkAxisMask int32
}

// UnionType implements Options.
func (*StridedSliceOptions) UnionType() uint8 { return 32 }
func (o *StridedSliceOptions) fields() []field {
	return []field{
		{0, &o.BeginMask, int32(0)},
		{1, &o.EndMask, int32(0)},
		{2, &o.EllipsisMask, int32(0)},
		{3, &o.NewAxisMask, int32(0)},
		{4, &o.ShrinkAxisMask, int32(0)},
	}
}

// CastOptions configures CAST.
type CastOptions struct{ In, Out TensorType }

// UnionType implements Options.
func (*CastOptions) UnionType() uint8 { return 37 }
func (o *CastOptions) fields() []field {
	return []field{{0, (*int8)(&o.In), int8(0)}, {1, (*int8)(&o.Out), int8(0)}}
}

// DequantizeOptions configures DEQUANTIZE (an empty table).
type DequantizeOptions struct{}

// UnionType implements Options.
func (*DequantizeOptions) UnionType() uint8 { return 38 }
func (*DequantizeOptions) fields() []field  { return nil }

// ArgMaxOptions configures ARG_MAX.
type ArgMaxOptions struct{ OutputType TensorType }

// UnionType implements Options.
func (*ArgMaxOptions) UnionType() uint8 { return 40 }
func (o *ArgMaxOptions) fields() []field {
	return []field{{0, (*int8)(&o.OutputType), int8(0)}}
}

// SquaredDifferenceOptions configures SQUARED_DIFFERENCE (an empty table).
type SquaredDifferenceOptions struct{}

// UnionType implements Options.
func (*SquaredDifferenceOptions) UnionType() uint8 { return 76 }
func (*SquaredDifferenceOptions) fields() []field  { return nil }

// QuantizeOptions configures QUANTIZE (an empty table).
type QuantizeOptions struct{}

// UnionType implements Options.
func (*QuantizeOptions) UnionType() uint8 { return 89 }
func (*QuantizeOptions) fields() []field  { return nil }

// BatchMatMulOptions configures BATCH_MATMUL; AdjX/AdjY transpose the last two axes of x/y.
type BatchMatMulOptions struct {
	AdjX, AdjY               bool
	AsymmetricQuantizeInputs bool
}

// UnionType implements Options.
func (*BatchMatMulOptions) UnionType() uint8 { return 101 }
func (o *BatchMatMulOptions) fields() []field {
	return []field{{0, &o.AdjX, false}, {1, &o.AdjY, false}, {2, &o.AsymmetricQuantizeInputs, false}}
}

// GeluOptions configures GELU; Approximate selects the tanh approximation.
type GeluOptions struct{ Approximate bool }

// UnionType implements Options.
func (*GeluOptions) UnionType() uint8 { return 116 }
func (o *GeluOptions) fields() []field {
	return []field{{0, &o.Approximate, false}}
}

// DynamicUpdateSliceOptions configures DYNAMIC_UPDATE_SLICE (an empty table).
type DynamicUpdateSliceOptions struct{}

// UnionType implements Options.
func (*DynamicUpdateSliceOptions) UnionType() uint8 { return 117 }
func (*DynamicUpdateSliceOptions) fields() []field  { return nil }

// UnknownOptions is an options table of an operator edged does not model. It is kept so that
// inspect can report it; Marshal refuses it because its fields were not read.
type UnknownOptions struct{ Type uint8 }

// UnionType implements Options.
func (o *UnknownOptions) UnionType() uint8 { return o.Type }
func (*UnknownOptions) fields() []field    { return nil }

// notBool stores a bool field whose schema default is true as its negation, so that the Go
// zero value means the schema default.
type notBool bool

// newOptions returns a zero options table for a union member, or nil if it is not modelled.
func newOptions(unionType uint8) Options {
	switch unionType {
	case 1:
		return &Conv2DOptions{}
	case 8:
		return &FullyConnectedOptions{}
	case 9:
		return &SoftmaxOptions{}
	case 10:
		return &ConcatenationOptions{}
	case 11:
		return &AddOptions{}
	case 12:
		return &L2NormOptions{}
	case 17:
		return &ReshapeOptions{}
	case 21:
		return &MulOptions{}
	case 23:
		return &GatherOptions{}
	case 26:
		return &TransposeOptions{}
	case 27:
		return &ReducerOptions{}
	case 28:
		return &SubOptions{}
	case 29:
		return &DivOptions{}
	case 32:
		return &StridedSliceOptions{}
	case 37:
		return &CastOptions{}
	case 38:
		return &DequantizeOptions{}
	case 40:
		return &ArgMaxOptions{}
	case 76:
		return &SquaredDifferenceOptions{}
	case 89:
		return &QuantizeOptions{}
	case 101:
		return &BatchMatMulOptions{}
	case 116:
		return &GeluOptions{}
	case 117:
		return &DynamicUpdateSliceOptions{}
	}
	return nil
}

// OptionsName returns the schema name of an options union member, e.g. "FullyConnectedOptions".
func OptionsName(o Options) string {
	if o == nil {
		return "NONE"
	}
	if _, ok := o.(*UnknownOptions); ok {
		return fmt.Sprintf("BuiltinOptions(%d)", o.UnionType())
	}
	name := fmt.Sprintf("%T", o)
	return name[len("*tfl."):]
}
