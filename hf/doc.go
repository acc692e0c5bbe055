// Package hf reads Hugging Face checkpoint folders: safetensors weights (one file or
// sharded with model.safetensors.index.json) or, when a checkpoint has none, PyTorch's
// pytorch_model.bin (one file or sharded with pytorch_model.bin.index.json), config.json
// with the defaults transformers applies to CLIP and BLIP configs, generation_config.json,
// tokenizer_config.json and the raw preprocessor_config.json. It also writes safetensors files, for tests and fixtures.
//
// The safetensors reader is lazy and policy-free: opening a file parses only its header;
// tensor data is streamed from disk when asked for, converted to float32 (from F32, F16,
// BF16 or F64) or int64 (from integer types) on request. Which tensors stay float, get
// quantized or are dropped is the caller's decision, never the reader's.
//
// A pytorch_model.bin is a pickle, which Python would run as code. It is read by a
// restricted reader that runs nothing: it knows only the opcodes and the globals a state dict
// of tensors is made of (collections.OrderedDict, torch._utils._rebuild_tensor_v2, the torch
// storage types) and refuses any other with an error naming it, so a checkpoint that would
// call os.system when loaded by torch.load is refused here. Its tensors are read in place
// from the zip archive, as lazily as safetensors ones.
//
// Every error names the file and, where there is one, the tensor or config key:
//
//	hf: tensor "text_projection.weight" not in /models/clip/model.safetensors
//	hf: /models/clip/config.json: text_config.hidden_size: want an integer, got "wide"
//
// A missing file wraps fs.ErrNotExist, so callers can test for it with errors.Is.
//
// Safetensors and Checkpoint values are safe for concurrent reads (they read with ReadAt).
package hf
