package tfl

// Field slots of the schema's tables: the n-th field declared in schema.fbs is slot n (a union
// takes two slots, its _type byte first). The vtable byte offset of slot n is 4+2n. Only the
// tables and fields edged reads or writes are listed; fields added after TFLite 2.9 are left out
// on purpose so that files stay readable by the 2.9 runtime exactly as written.
const (
	modelVersion       = 0
	modelOperatorCodes = 1
	modelSubgraphs     = 2
	modelDescription   = 3
	modelBuffers       = 4
	modelMetadata      = 6 // slot 5 is the deprecated metadata_buffer
	modelSignatureDefs = 7
	modelNumFields     = 8

	opcodeDeprecatedBuiltin = 0
	opcodeCustom            = 1
	opcodeVersion           = 2
	opcodeBuiltin           = 3
	opcodeNumFields         = 4

	subgraphTensors   = 0
	subgraphInputs    = 1
	subgraphOutputs   = 2
	subgraphOperators = 3
	subgraphName      = 4
	subgraphNumFields = 5

	tensorShape          = 0
	tensorType           = 1
	tensorBuffer         = 2
	tensorName           = 3
	tensorQuantization   = 4
	tensorIsVariable     = 5
	tensorShapeSignature = 7 // slot 6 is sparsity, not supported
	tensorNumFields      = 8

	quantMin                = 0
	quantMax                = 1
	quantScale              = 2
	quantZeroPoint          = 3
	quantDetailsType        = 4 // custom quantization, not supported
	quantQuantizedDimension = 6
	quantNumFields          = 7

	operatorOpcodeIndex  = 0
	operatorInputs       = 1
	operatorOutputs      = 2
	operatorOptionsType  = 3
	operatorOptions      = 4
	operatorCustomOpts   = 5
	operatorIntermediate = 8
	operatorNumFields    = 5

	bufferData      = 0
	bufferNumFields = 1

	metadataName      = 0
	metadataBuffer    = 1
	metadataNumFields = 2

	tensorMapName      = 0
	tensorMapIndex     = 1
	tensorMapNumFields = 2

	signatureInputs    = 0
	signatureOutputs   = 1
	signatureKey       = 2
	signatureSubgraph  = 4 // slot 3 is the deprecated tag
	signatureNumFields = 5
)

// bufferAlign is the alignment of Buffer.data in the schema (force_align: 16), which lets the
// runtime use constant data in place from a memory-mapped file.
const bufferAlign = 16

// builtinCodeLimit is PLACEHOLDER_FOR_GREATER_OP_CODES: codes from here on are only in the
// extended OperatorCode.builtin_code field and the old byte field holds the placeholder.
const builtinCodeLimit = 127
