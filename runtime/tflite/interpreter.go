package tflite

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edged/edged/runtime/kernels"
)

// Options configure an interpreter. The zero value runs on XNNPACK with one thread per CPU.
type Options struct {
	// Threads for XNNPACK's pool and edged's kernels (and for TFLite's kernels unless
	// KernelThreads says otherwise); 0 means runtime.NumCPU().
	Threads int
	// XNNPackThreads overrides Threads for XNNPACK's pool. 0 means Threads, except 1 when
	// edged's kernels run a full-int8 model (Kernels not off, XNNPackQS8): they take its
	// matrix work, and XNNPACK's pool, which spins after each of its partitions, would take a
	// core from them between every two layers (BENCHMARKS.md).
	XNNPackThreads int
	// KernelThreads is for TFLite's own kernels: the operators a delegate does not take.
	// 0 means 1 under XNNPACK and Threads otherwise: both pools spin while they wait, and on a
	// machine with few cores two pools of Threads each fight for them (measured in
	// BENCHMARKS.md: CLIP B/32 int8 on 2 cores, 160 ms with both at 2, 42 ms with kernels at 1).
	KernelThreads int
	// Delegate to run the graph on; "" means DelegateXNNPack.
	Delegate DelegateKind
	// XNNPackQS8 lets XNNPACK run signed int8 operators; without it this build leaves them on
	// TFLite's (several times slower) kernels. Set it for int8 models.
	XNNPackQS8 bool
	// XNNPackQU8 lets XNNPACK take uint8 operators. With the shipped library XNNPACK then fails
	// to build them and NewInterpreter returns that error; see the package documentation.
	XNNPackQU8 bool
	// XNNPackForceFP16 asks XNNPACK to compute float32 operators in fp16. On CPUs without fp16
	// arithmetic (amd64) XNNPACK fails to prepare and NewInterpreter returns the error.
	XNNPackForceFP16 bool
	// XNNPackDequantize gives XNNPACK the DEQUANTIZE operators of computed tensors too (the
	// entries of an int8 graph's float regions). Off by default: XNNPACK 2.9 gives each of its
	// partitions memory of its own for the values inside it, never shared with another
	// partition, and a DEQUANTIZE opening a float region makes its float output such a value
	// in every layer (BLIP's vision tower kept its attention scores, 12 of 577×577 floats,
	// once per layer). On TFLite's kernel, or edged's kernels (which take it when they run and
	// this is off), that output lives in TFLite's arena, which all layers share, and the
	// conversion takes as long (BENCHMARKS.md, "Memory and the hot path"). DEQUANTIZE of
	// constants (fp16 weights) goes to XNNPACK either way.
	XNNPackDequantize bool
	// DelegateLibrary is the shared library of a gpu delegate (searched for when empty: beside
	// libtensorflowlite_c.so, beside the executable, ../lib, then the loader's path) or the
	// plugin of an external delegate (required).
	DelegateLibrary string
	// DelegateOptions are key/value options: passed verbatim to an external delegate; for the
	// gpu delegate the keys precision_loss_allowed, inference_preference,
	// max_delegated_partitions, enable_quant, backend, serialization_dir, model_token.
	DelegateOptions map[string]string
	// Kernels runs int8 FULLY_CONNECTED and patch-embedding CONV_2D on edged's own kernels
	// (runtime/kernels),
	// applied before the delegate, which keeps the rest. "" or "auto": the CPU's best kernel
	// under XNNPACK (none on a CPU without one, and none under other delegates); "off"; or a
	// kernel name (kernels.Available), which also runs under the none delegate. They take
	// attention's int8 BATCH_MATMUL too, unless "-bmm" follows auto or the name (kernels.Resolve).
	Kernels string
	// KernelsSpin is kernels.Options.Spin: how long the kernels' workers spin for the next
	// operator before they sleep (0: kernels.DefaultSpin; negative: never).
	KernelsSpin time.Duration
}

// withDefaults fills in defaults and checks the options.
func (o Options) withDefaults() (Options, error) {
	if o.Threads < 0 {
		return o, fmt.Errorf("runtime: Options.Threads is %d, want 0 (one per CPU) or more", o.Threads)
	}
	if o.Threads == 0 {
		o.Threads = runtime.NumCPU()
	}
	if o.KernelThreads < 0 {
		return o, fmt.Errorf("runtime: Options.KernelThreads is %d, want 0 (automatic) or more", o.KernelThreads)
	}
	k, err := ParseDelegateKind(string(o.Delegate))
	if err != nil {
		return o, err
	}
	o.Delegate = k
	if o.KernelThreads == 0 {
		o.KernelThreads = o.Threads
		if o.Delegate == DelegateXNNPack {
			o.KernelThreads = 1
		}
	}
	if o.XNNPackThreads < 0 {
		return o, fmt.Errorf("runtime: Options.XNNPackThreads is %d, want 0 (automatic) or more", o.XNNPackThreads)
	}
	if o.Delegate != DelegateXNNPack && (o.XNNPackQS8 || o.XNNPackQU8 || o.XNNPackForceFP16 || o.XNNPackDequantize) {
		return o, fmt.Errorf("runtime: XNNPack flags set with delegate %q", o.Delegate)
	}
	if (o.Delegate == DelegateNone || o.Delegate == DelegateXNNPack) && (o.DelegateLibrary != "" || len(o.DelegateOptions) > 0) {
		return o, fmt.Errorf("runtime: DelegateLibrary and DelegateOptions are for the gpu and external delegates, not %q", o.Delegate)
	}
	kern, _, err := kernelsFor(o)
	if err != nil {
		return o, err
	}
	if o.XNNPackThreads == 0 {
		o.XNNPackThreads = o.Threads
		if kern != "" && o.XNNPackQS8 {
			o.XNNPackThreads = 1
		}
	}
	return o, nil
}

// Interpreter runs one model. Its methods, and those of its tensors, are serialised by an
// internal mutex (see the package documentation for the goroutine rule).
type Interpreter struct {
	mu    sync.Mutex
	ptr   *C.TfLiteInterpreter
	model *Model
	del   *delegate
	kern  *kernels.Delegate // applied before del; nil when off
	rep   *reporter
	opts  Options
	// Tensors are made on demand and point to the interpreter, never the other way round: a
	// reference cycle through an object with a finalizer would keep it from ever running.
	numInputs, numOutputs int
}

// NewInterpreter creates an interpreter for m with its delegate and allocates its tensors.
// A delegate that cannot be loaded is an error wrapping ErrDelegateUnavailable; a delegate
// that rejects the graph is an error with TFLite's reason.
func NewInterpreter(m *Model, opts Options) (*Interpreter, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	mptr, err := m.acquire()
	if err != nil {
		return nil, err
	}
	kern, err := newKernels(opts)
	if err != nil {
		m.release()
		return nil, err
	}
	del, err := newDelegate(opts)
	if err != nil {
		closeKernels(kern)
		m.release()
		return nil, err
	}
	var dptr *C.TfLiteDelegate
	if del != nil {
		dptr = del.ptr
	}
	del.skipKernels(kern)
	rep := newReporter()
	ptr := C.edged_interpreter_create(mptr, C.int32_t(opts.KernelThreads), kernelsPtr(kern), dptr, C.uintptr_t(rep.id))
	if ptr == nil {
		msg := rep.take()
		if msg == "" {
			msg = "TfLiteInterpreterCreate failed without a message"
			if del != nil && del.probe != nil && del.probe.prepares == 0 {
				// TFLite 2.9 refuses a delegate before calling it, and says so only in a debug
				// log, when the graph has tensors whose shapes are computed during Invoke.
				msg = fmt.Sprintf("TFLite did not apply the %s delegate, most likely because the graph has "+
					"dynamic-sized tensors (shapes computed during Invoke, e.g. RESHAPE with a non-constant shape), "+
					"which this delegate cannot take: use static shapes, or delegate none", opts.Delegate)
			}
		}
		rep.close()
		del.close()
		closeKernels(kern)
		m.release()
		return nil, fmt.Errorf("runtime: create interpreter for %s (delegate %s): %s", m.source, opts.Delegate, msg)
	}
	live.interpreters.Add(1)
	ip := &Interpreter{ptr: ptr, model: m, del: del, kern: kern, rep: rep, opts: opts}
	if err := ip.allocate(); err != nil {
		ip.Close()
		return nil, fmt.Errorf("runtime: create interpreter for %s (delegate %s): %w", m.source, opts.Delegate, err)
	}
	ip.numInputs = int(C.TfLiteInterpreterGetInputTensorCount(ptr))
	ip.numOutputs = int(C.TfLiteInterpreterGetOutputTensorCount(ptr))
	runtime.SetFinalizer(ip, func(ip *Interpreter) {
		ip.mu.Lock()
		open := ip.ptr != nil
		ip.mu.Unlock()
		if open {
			slog.Warn("runtime: interpreter garbage-collected without Close", "model", ip.model.source)
			ip.Close()
		}
	})
	return ip, nil
}

// Close frees the interpreter and its delegate. It waits for a running Invoke; closing twice
// is safe.
func (ip *Interpreter) Close() error {
	if ip == nil {
		return nil
	}
	ip.mu.Lock()
	defer ip.mu.Unlock()
	if ip.ptr == nil {
		return nil
	}
	C.TfLiteInterpreterDelete(ip.ptr)
	ip.ptr = nil
	live.interpreters.Add(-1)
	ip.del.close() // after the interpreter: TFLite requires delegates to outlive it
	closeKernels(ip.kern)
	ip.kern = nil
	ip.rep.close()
	ip.model.release()
	return nil
}

// Options returns the options the interpreter was created with, defaults filled in.
func (ip *Interpreter) Options() Options {
	if ip == nil {
		return Options{}
	}
	return ip.opts
}

// Delegation reports how much of the graph the delegate runs, as of the last time the delegate
// was applied (at creation, and again after ResizeInput or ResizeInputs).
func (ip *Interpreter) Delegation() Delegation {
	if ip == nil {
		return Delegation{}
	}
	ip.mu.Lock()
	defer ip.mu.Unlock()
	return delegation(ip.opts.Delegate, ip.del, ip.kern)
}

// InputCount is the number of model inputs.
func (ip *Interpreter) InputCount() int {
	if ip == nil {
		return 0
	}
	return ip.numInputs
}

// OutputCount is the number of model outputs.
func (ip *Interpreter) OutputCount() int {
	if ip == nil {
		return 0
	}
	return ip.numOutputs
}

// errNilInterpreter is what a method of a nil *Interpreter returns (a NewInterpreter error
// that was not checked).
var errNilInterpreter = errors.New("runtime: nil interpreter")

// Input returns model input i. Each call makes a small Tensor value: keep it in hot loops.
// Out of range, it returns a tensor whose methods report the error, so that chained calls
// fail with a message instead of a nil dereference.
func (ip *Interpreter) Input(i int) *Tensor {
	if ip == nil {
		return &Tensor{index: i, err: errNilInterpreter}
	}
	t := &Tensor{ip: ip, index: i}
	if i < 0 || i >= ip.numInputs {
		t.err = fmt.Errorf("runtime: input %d out of range: the model has %d input(s)", i, ip.numInputs)
	}
	return t
}

// Output returns model output i; out of range as Input.
func (ip *Interpreter) Output(i int) *Tensor {
	if ip == nil {
		return &Tensor{index: i, output: true, err: errNilInterpreter}
	}
	t := &Tensor{ip: ip, index: i, output: true}
	if i < 0 || i >= ip.numOutputs {
		t.err = fmt.Errorf("runtime: output %d out of range: the model has %d output(s)", i, ip.numOutputs)
	}
	return t
}

// InputByName returns the input tensor called name.
func (ip *Interpreter) InputByName(name string) (*Tensor, error) {
	return ip.byName(false, name)
}

// OutputByName returns the output tensor called name.
func (ip *Interpreter) OutputByName(name string) (*Tensor, error) {
	return ip.byName(true, name)
}

func (ip *Interpreter) byName(output bool, name string) (*Tensor, error) {
	kind, n := "input", ip.InputCount()
	if output {
		kind, n = "output", ip.OutputCount()
	}
	if ip == nil {
		return nil, errNilInterpreter
	}
	ip.mu.Lock()
	defer ip.mu.Unlock()
	if ip.ptr == nil {
		return nil, fmt.Errorf("runtime: %s by name: interpreter %w", kind, ErrClosed)
	}
	var names []string
	for i := range n {
		t := &Tensor{ip: ip, index: i, output: output}
		tn := C.GoString(C.TfLiteTensorName(t.cptr()))
		if tn == name {
			return t, nil
		}
		names = append(names, fmt.Sprintf("%q", tn))
	}
	return nil, fmt.Errorf("runtime: model %s has no %s named %q (its %ss: %v)", ip.model.source, kind, name, kind, names)
}

// ResizeInput gives input i a new shape and re-allocates the tensors. A resize is not cheap:
// TFLite applies the delegate again (XNNPACK re-packs its weights), so prefer fixed shapes in
// per-frame or per-token loops; resizing to the current shape does nothing. If the graph
// cannot take the shape, the old shape is restored and the error says why.
func (ip *Interpreter) ResizeInput(i int, shape []int) error {
	if ip == nil {
		return errNilInterpreter
	}
	ip.mu.Lock()
	defer ip.mu.Unlock()
	if ip.ptr == nil {
		return fmt.Errorf("runtime: resize input: interpreter %w", ErrClosed)
	}
	if i < 0 || i >= ip.numInputs {
		return fmt.Errorf("runtime: resize input %d: out of range, the model has %d input(s)", i, ip.numInputs)
	}
	t := &Tensor{ip: ip, index: i}
	old := t.shapeLocked()
	if slices.Equal(old, shape) {
		return nil
	}
	if err := ip.resize(i, shape); err != nil {
		return fmt.Errorf("runtime: resize %s to %v: %w", t.describeLocked(), shape, err)
	}
	if err := ip.allocate(); err != nil {
		// Put the old shape back so the interpreter stays usable.
		restored := ip.resize(i, old) == nil && ip.allocate() == nil
		note := ""
		if restored {
			note = fmt.Sprintf(" (shape %v restored)", old)
		}
		return fmt.Errorf("runtime: resize %s to %v: %w%s", t.describeLocked(), shape, err, note)
	}
	return nil
}

// ResizeInputs gives several inputs new shapes (shapes maps an input index to its shape) and
// then allocates the tensors once, so inputs whose shapes must agree (a batch dimension shared
// by token ids and every key/value cache) change together: resizing them one at a time with
// ResizeInput would fail on the first, whose shape no longer fits the others'. Inputs already
// at their shape are left alone, and when every input is, nothing happens (the tensors keep
// their data). Like ResizeInput it re-applies the delegate, once. If the graph cannot take the
// shapes, every input gets its old shape back and the error names the inputs and says why.
func (ip *Interpreter) ResizeInputs(shapes map[int][]int) error {
	if ip == nil {
		return errNilInterpreter
	}
	ip.mu.Lock()
	defer ip.mu.Unlock()
	if ip.ptr == nil {
		return fmt.Errorf("runtime: resize inputs: interpreter %w", ErrClosed)
	}
	idx := make([]int, 0, len(shapes))
	for i := range shapes {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	type change struct {
		i          int
		old, shape []int
		desc       string
	}
	var changes []change
	for _, i := range idx {
		if i < 0 || i >= ip.numInputs {
			return fmt.Errorf("runtime: resize input %d: out of range, the model has %d input(s)", i, ip.numInputs)
		}
		t := &Tensor{ip: ip, index: i}
		old := t.shapeLocked()
		if err := checkDims(shapes[i]); err != nil {
			return fmt.Errorf("runtime: resize %s to %v: %w", t.describeLocked(), shapes[i], err)
		}
		if slices.Equal(old, shapes[i]) {
			continue
		}
		changes = append(changes, change{i: i, old: old, shape: slices.Clone(shapes[i]), desc: t.describeLocked()})
	}
	if len(changes) == 0 {
		return nil
	}
	describe := func() string {
		parts := make([]string, len(changes))
		for k, c := range changes {
			parts[k] = fmt.Sprintf("%s to %v", c.desc, c.shape)
		}
		return strings.Join(parts, ", ")
	}
	restore := func() string {
		for _, c := range changes {
			if ip.resize(c.i, c.old) != nil {
				return ""
			}
		}
		if ip.allocate() != nil {
			return ""
		}
		olds := make([]string, len(changes))
		for k, c := range changes {
			olds[k] = fmt.Sprint(c.old)
		}
		return fmt.Sprintf(" (shapes %s restored)", strings.Join(olds, ", "))
	}
	for k, c := range changes {
		if err := ip.resize(c.i, c.shape); err != nil {
			changes = changes[:k+1] // undo only what was changed
			return fmt.Errorf("runtime: resize %s to %v: %w%s", c.desc, c.shape, err, restore())
		}
	}
	if err := ip.allocate(); err != nil {
		return fmt.Errorf("runtime: resize %s: %w%s", describe(), err, restore())
	}
	return nil
}

// checkDims rejects shapes TFLite cannot hold.
func checkDims(shape []int) error {
	if len(shape) == 0 {
		return fmt.Errorf("empty shape")
	}
	for k, d := range shape {
		if d < 0 || d > math.MaxInt32 {
			return fmt.Errorf("dimension %d is %d", k, d)
		}
	}
	return nil
}

func (ip *Interpreter) resize(i int, shape []int) error {
	if err := checkDims(shape); err != nil {
		return err
	}
	dims := make([]C.int, len(shape))
	for k, d := range shape {
		dims[k] = C.int(d)
	}
	ip.rep.reset()
	if s := C.TfLiteInterpreterResizeInputTensor(ip.ptr, C.int32_t(i), &dims[0], C.int32_t(len(dims))); s != C.kTfLiteOk {
		return ip.failure(s)
	}
	return nil
}

func (ip *Interpreter) allocate() error {
	ip.rep.reset()
	if s := C.TfLiteInterpreterAllocateTensors(ip.ptr); s != C.kTfLiteOk {
		return fmt.Errorf("allocate tensors: %w", ip.failure(s))
	}
	// The delegate has packed the weights it took (at creation, and again after a resize, which
	// re-applies it): their file pages need not stay resident.
	if err := ip.model.DropFilePages(); err != nil {
		slog.Warn("runtime: model file pages stay resident", "err", err)
	}
	return nil
}

// Invoke runs the model on the current inputs.
func (ip *Interpreter) Invoke() error {
	if ip == nil {
		return errNilInterpreter
	}
	ip.mu.Lock()
	defer ip.mu.Unlock()
	if ip.ptr == nil {
		return fmt.Errorf("runtime: invoke: interpreter %w", ErrClosed)
	}
	ip.rep.reset()
	if s := C.TfLiteInterpreterInvoke(ip.ptr); s != C.kTfLiteOk {
		return fmt.Errorf("runtime: invoke %s: %w", ip.model.source, ip.failure(s))
	}
	return nil
}

// failure turns a status and the reporter's messages into an error.
func (ip *Interpreter) failure(s C.TfLiteStatus) error {
	if msg := ip.rep.take(); msg != "" {
		return fmt.Errorf("%s", msg)
	}
	return fmt.Errorf("TFLite returned %s without a message", statusText(s))
}
