package hf

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/x448/float16"
)

// DType is the element type of a stored tensor, spelled as in the safetensors header.
type DType string

// The element types of the safetensors format.
const (
	BOOL   DType = "BOOL"
	U8     DType = "U8"
	I8     DType = "I8"
	F8E5M2 DType = "F8_E5M2"
	F8E4M3 DType = "F8_E4M3"
	I16    DType = "I16"
	U16    DType = "U16"
	F16    DType = "F16"
	BF16   DType = "BF16"
	I32    DType = "I32"
	U32    DType = "U32"
	F32    DType = "F32"
	F64    DType = "F64"
	I64    DType = "I64"
	U64    DType = "U64"
)

var dtypeSizes = map[DType]int{
	BOOL: 1, U8: 1, I8: 1, F8E5M2: 1, F8E4M3: 1,
	I16: 2, U16: 2, F16: 2, BF16: 2,
	I32: 4, U32: 4, F32: 4,
	F64: 8, I64: 8, U64: 8,
}

// Size is the number of bytes of one element, or 0 for a type the format does not define.
func (d DType) Size() int { return dtypeSizes[d] }

// Valid reports whether d is one of the safetensors element types.
func (d DType) Valid() bool { return d.Size() > 0 }

// IsFloat reports whether elements of d convert to float32 (F32, F16, BF16, F64).
func (d DType) IsFloat() bool { return d == F32 || d == F16 || d == BF16 || d == F64 }

// IsInt reports whether elements of d convert to int64 without loss (BOOL, U8, I8, I16, U16,
// I32, U32, I64).
func (d DType) IsInt() bool {
	switch d {
	case BOOL, U8, I8, I16, U16, I32, U32, I64:
		return true
	}
	return false
}

// decodeFloat32 converts little-endian elements of type d from src into dst
// (len(src) == len(dst)*d.Size()).
func decodeFloat32(d DType, src []byte, dst []float32) error {
	switch d {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = float16.Frombits(binary.LittleEndian.Uint16(src[2*i:])).Float32()
		}
	case BF16:
		// bfloat16 is the top half of a float32: widening is exact.
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
		}
	default:
		return fmt.Errorf("dtype %s does not convert to float32", d)
	}
	return nil
}

// decodeInt64 converts little-endian elements of integer type d from src into dst.
func decodeInt64(d DType, src []byte, dst []int64) error {
	switch d {
	case BOOL, U8:
		for i := range dst {
			dst[i] = int64(src[i])
		}
	case I8:
		for i := range dst {
			dst[i] = int64(int8(src[i]))
		}
	case I16:
		for i := range dst {
			dst[i] = int64(int16(binary.LittleEndian.Uint16(src[2*i:])))
		}
	case U16:
		for i := range dst {
			dst[i] = int64(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case I32:
		for i := range dst {
			dst[i] = int64(int32(binary.LittleEndian.Uint32(src[4*i:])))
		}
	case U32:
		for i := range dst {
			dst[i] = int64(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case I64:
		for i := range dst {
			dst[i] = int64(binary.LittleEndian.Uint64(src[8*i:]))
		}
	default:
		return fmt.Errorf("dtype %s does not convert to int64", d)
	}
	return nil
}
