package tfl

import "fmt"

// BuiltinOp is a builtin operator code (schema enum BuiltinOperator). Codes above 127 do not fit
// the original byte field of OperatorCode and are written in its extended builtin_code field.
type BuiltinOp int32

// The builtin operators edged builds graphs from. Values are the schema's.
const (
	OpAdd                 BuiltinOp = 0
	OpConcatenation       BuiltinOp = 2
	OpConv2D              BuiltinOp = 3
	OpDequantize          BuiltinOp = 6
	OpFullyConnected      BuiltinOp = 9
	OpL2Normalization     BuiltinOp = 11
	OpLogistic            BuiltinOp = 14
	OpMul                 BuiltinOp = 18
	OpReshape             BuiltinOp = 22
	OpSoftmax             BuiltinOp = 25
	OpTanh                BuiltinOp = 28
	OpCustom              BuiltinOp = 32
	OpGather              BuiltinOp = 36
	OpTranspose           BuiltinOp = 39
	OpMean                BuiltinOp = 40
	OpSub                 BuiltinOp = 41
	OpDiv                 BuiltinOp = 42
	OpStridedSlice        BuiltinOp = 45
	OpCast                BuiltinOp = 53
	OpArgMax              BuiltinOp = 56
	OpRsqrt               BuiltinOp = 76
	OpSquaredDifference   BuiltinOp = 99
	OpQuantize            BuiltinOp = 114
	OpBatchMatMul         BuiltinOp = 126
	OpPlaceholderForGreat BuiltinOp = 127 // PLACEHOLDER_FOR_GREATER_OP_CODES
	OpGelu                BuiltinOp = 150
	OpDynamicUpdateSlice  BuiltinOp = 151
)

// builtinNames lists the schema's operator names by code, so that inspect can name any
// operator of a TFLite 2.x model, not only the ones edged writes. Empty entries are unused codes.
var builtinNames = [...]string{
	"ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE",
	"DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP",
	"L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC", "LSH_PROJECTION",
	"LSTM", "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1", "RELU6", "RESHAPE", "RESIZE_BILINEAR",
	"RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH", "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL",
	"CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD", "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER",
	"BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE",
	"UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP", "TOPK_V2",
	"SPLIT", "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU", "MAXIMUM",
	"ARG_MAX", "MINIMUM", "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL", "SELECT",
	"SLICE", "SIN", "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL",
	"LOG", "SUM", "SQRT", "RSQRT", "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD",
	"REDUCE_MAX", "PACK", "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK",
	"REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD", "RANGE",
	"RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS", "SPLIT_V",
	"UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS", "WHERE", "RANK", "ELU",
	"REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND", "HARD_SWISH", "IF",
	"WHILE", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5", "SCATTER_ND", "SELECT_V2",
	"DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL", "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM",
	"CALL_ONCE", "BROADCAST_TO", "RFFT2D", "CONV_3D", "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE",
	"HASHTABLE_FIND", "HASHTABLE_IMPORT", "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE",
	"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL",
	"BUCKETIZE", "RANDOM_UNIFORM", "MULTINOMIAL", "GELU", "DYNAMIC_UPDATE_SLICE", "RELU_0_TO_1",
	"UNSORTED_SEGMENT_PROD", "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_SUM", "ATAN2",
	"UNSORTED_SEGMENT_MIN", "SIGN",
}

// String returns the schema name of the operator, e.g. "FULLY_CONNECTED".
func (op BuiltinOp) String() string {
	if op >= 0 && int(op) < len(builtinNames) && builtinNames[op] != "" {
		return builtinNames[op]
	}
	return fmt.Sprintf("BUILTIN_%d", int32(op))
}

// Activation is a fused activation function (schema enum ActivationFunctionType).
type Activation int8

// Fused activations.
const (
	ActNone      Activation = 0
	ActRelu      Activation = 1
	ActReluN1To1 Activation = 2
	ActRelu6     Activation = 3
	ActTanh      Activation = 4
	ActSignBit   Activation = 5
)

// String returns the schema name of the activation.
func (a Activation) String() string {
	switch a {
	case ActNone:
		return "NONE"
	case ActRelu:
		return "RELU"
	case ActReluN1To1:
		return "RELU_N1_TO_1"
	case ActRelu6:
		return "RELU6"
	case ActTanh:
		return "TANH"
	case ActSignBit:
		return "SIGN_BIT"
	}
	return fmt.Sprintf("Activation(%d)", int8(a))
}

// Padding is the padding scheme of a convolution (schema enum Padding).
type Padding int8

// Padding schemes.
const (
	PaddingSame  Padding = 0
	PaddingValid Padding = 1
)

// String returns the schema name of the padding.
func (p Padding) String() string {
	switch p {
	case PaddingSame:
		return "SAME"
	case PaddingValid:
		return "VALID"
	}
	return fmt.Sprintf("Padding(%d)", int8(p))
}
