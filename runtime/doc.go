// Package runtime is edged's only binding to the TensorFlow Lite 2.9 C library: it loads
// models, creates interpreters with a delegate (XNNPACK, GPU, an external delegate or none),
// and moves typed tensor data in and out. It knows nothing about CLIP or BLIP.
//
// # Ownership
//
// Model, Interpreter and the delegate an interpreter owns wrap native handles. Each has a
// Close method that frees them; Close is idempotent. Finalizers call Close only as a backstop
// and log a warning, because native memory is invisible to the Go garbage collector.
// LiveHandles counts the handles still open, so tests can assert that nothing leaks.
//
// A model loaded with LoadModel is memory-mapped by TFLite (the weights never enter Go
// memory). NewModel copies the bytes into C memory once; that copy lives until the model and
// every interpreter created from it are closed, because TFLite reads weights from it in place.
// A Model may be closed while interpreters built from it are still in use.
//
// # Goroutines
//
// An Interpreter serialises its own methods and those of its tensors with a mutex: a call made
// while another goroutine is inside Invoke waits for it, and a call after Close returns
// ErrClosed. Each call is atomic, but a sequence (set inputs, Invoke, read outputs) is not: two
// goroutines sharing one interpreter must guard the whole sequence themselves, or, better, each
// use its own Interpreter (interpreters may share one Model).
//
// # Errors
//
// TFLite reports failures through an error reporter; every interpreter installs its own, and
// the messages of a failed call become the text of the returned Go error. Loading a model
// happens before any interpreter exists: the 2.9 C API has no reporter for it, so TFLite
// prints its reason to stderr and the Go error says what was checked.
//
// # Delegates and int8 on XNNPACK
//
// XNNPACK is the default delegate on CPU. The shipped 2.9 library's XNNPACK options struct has
// num_threads and flags only (no weights cache; see shim.h). Interpreter.Delegation reports how
// many operators a delegate took over, measured by wrapping the delegate's Prepare. Measured
// with this library on amd64: fp32 FULLY_CONNECTED and ADD go to XNNPACK whatever the flags;
// int8 operators go to XNNPACK only with Options.XNNPackQS8, and uint8 ones only with
// Options.XNNPackQU8 (the library's default flags are 0, so without them quantized graphs stay
// on TFLite's built-in kernels). TestXNNPackQuantizedPartitioning pins this behaviour.
package runtime
