// Package tflite is edged's only binding to the TensorFlow Lite 2.9 C library: it loads
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
// # Delegates
//
// XNNPACK is the default delegate on CPU. Interpreter.Delegation reports how many operators a
// delegate took over (runtime wraps the delegate's Prepare and reads the execution plan), and
// ProbeDelegates what this machine can load. What the shipped 2.9.0 library does, measured on
// amd64 and pinned by the tests named:
//
//   - Its TfLiteXNNPackDelegateOptions is {num_threads, flags}, 8 bytes, without the
//     weights_cache pointer of the public 2.9.1 header (read off the machine code; see shim.h;
//     TestXNNPackOptionsLayout). The default flags are 0.
//   - float32 operators go to XNNPACK. int8 operators go to XNNPACK only with
//     Options.XNNPackQS8, and then run several times faster (BenchmarkFullyConnected: a
//     768×768 int8 FULLY_CONNECTED, one thread, about 4.5×); without it they stay on TFLite's
//     kernels (TestXNNPackQuantizedPartitioning). Dynamic-range (float input, int8 weight)
//     FULLY_CONNECTED is never delegated (TestDynamicRangeFullyConnectedStaysOnTFLite).
//   - Options.XNNPackQU8 makes XNNPACK claim uint8 operators that it then cannot build:
//     NewInterpreter fails ("failed to delegate FULLY_CONNECTED node #0"). Do not use it with
//     this build; edged's models are int8.
//   - Options.XNNPackForceFP16 fails the same way on a CPU without fp16 arithmetic (all amd64
//     machines); it may work on Arm cores with fp16 (not verified).
//   - FULLY_CONNECTED with per-channel weight scales runs without error but outputs the zero
//     point (the bias alone in the dynamic-range form): TFLite 2.9 rescales with the per-tensor
//     scale, which is 0 for per-channel tensors. Quantize FULLY_CONNECTED weights per tensor
//     (TestPerChannelFullyConnectedIgnoredByTFLite29).
//   - A graph with dynamic-sized tensors (shapes computed during Invoke) is not given to
//     XNNPACK, and TfLiteInterpreterCreate then fails without a message; NewInterpreter says
//     so (TestDelegateRefusesDynamicTensors). Graphs meant for XNNPACK need static shapes.
//   - A real ResizeInput or ResizeInputs (once for all the inputs it changes) re-applies the
//     delegate, and XNNPACK re-packs its weights
//     (BenchmarkResizeInput: about 0.6 ms for one 768×768 layer): keep shapes fixed in loops.
//   - Each XNNPACK partition has memory of its own for the values computed inside it, shared
//     with no other partition, where TFLite's kernels share one arena. runtime therefore
//     keeps a DEQUANTIZE of a computed tensor (the start of an int8 graph's float region) on
//     TFLite's kernel unless Options.XNNPackDequantize: the probe takes the withheld
//     operators out of the set XNNPACK asks to replace
//     (TestXNNPackDequantizeOfActivationsStaysOnTFLite).
//
// The GPU delegate (libtensorflowlite_gpu_delegate.so) and external delegate plugins (Coral's
// libedgetpu.so.1 and others) are loaded with dlopen when asked for; a missing or wrong
// library is an error wrapping ErrDelegateUnavailable. External plugins are called directly
// through TFLite's plugin protocol (tflite_plugin_create_delegate), not through the shipped
// libexternal_delegate_obj.so, whose 2.9 wrapper returns an uninitialised delegate when the
// plugin fails (deleting it crashes) and drops the plugin's error message.
package tflite
