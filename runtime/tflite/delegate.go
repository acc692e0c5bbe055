package tflite

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/edged/edged/runtime/kernels"
)

// DelegateKind selects where an interpreter runs the operators a delegate supports.
type DelegateKind string

// The delegates edged knows. The zero value means DelegateXNNPack.
const (
	DelegateDefault  DelegateKind = ""         // same as DelegateXNNPack
	DelegateNone     DelegateKind = "none"     // TFLite's built-in CPU kernels only
	DelegateXNNPack  DelegateKind = "xnnpack"  // XNNPACK, linked into libtensorflowlite_c
	DelegateGPU      DelegateKind = "gpu"      // libtensorflowlite_gpu_delegate.so, loaded at run time
	DelegateExternal DelegateKind = "external" // a TFLite external delegate plugin (Coral, ...)
)

// ParseDelegateKind checks a delegate name from a config file or flag; "" means xnnpack.
func ParseDelegateKind(s string) (DelegateKind, error) {
	switch k := DelegateKind(strings.ToLower(strings.TrimSpace(s))); k {
	case DelegateDefault:
		return DelegateXNNPack, nil
	case DelegateNone, DelegateXNNPack, DelegateGPU, DelegateExternal:
		return k, nil
	}
	return "", fmt.Errorf("runtime: unknown delegate %q (want none, xnnpack, gpu or external)", s)
}

// GPUDelegateLibrary is the file name of TFLite's GPU delegate.
const GPUDelegateLibrary = "libtensorflowlite_gpu_delegate.so"

// delegate is a native delegate owned by one interpreter. It must outlive the interpreter.
type delegate struct {
	kind     DelegateKind
	ptr      *C.TfLiteDelegate
	deleteFn unsafe.Pointer // nil for XNNPACK, which is linked in
	probe    *C.EdgedProbe
	cstrs    []*C.char // option strings handed to the delegate, freed with it
}

// newDelegate creates the delegate opts asks for; nil (and no error) for DelegateNone.
func newDelegate(opts Options) (*delegate, error) {
	var d *delegate
	var err error
	switch opts.Delegate {
	case DelegateNone:
		return nil, nil
	case DelegateXNNPack:
		d, err = newXNNPack(opts)
	case DelegateGPU:
		d, err = newGPU(opts)
	case DelegateExternal:
		d, err = newExternal(opts)
	default:
		return nil, fmt.Errorf("runtime: unknown delegate %q (want none, xnnpack, gpu or external)", opts.Delegate)
	}
	if err != nil {
		return nil, err
	}
	if d.probe == nil {
		d.probe = C.edged_probe_attach(d.ptr)
	}
	return d, nil
}

func newXNNPack(opts Options) (*delegate, error) {
	var flags C.uint32_t
	if opts.XNNPackQS8 {
		flags |= C.EDGED_XNNPACK_FLAG_QS8
	}
	if opts.XNNPackQU8 {
		flags |= C.EDGED_XNNPACK_FLAG_QU8
	}
	if opts.XNNPackForceFP16 {
		flags |= C.EDGED_XNNPACK_FLAG_FORCE_FP16
	}
	ptr := C.edged_xnnpack_create(C.int32_t(opts.XNNPackThreads), flags)
	if ptr == nil {
		return nil, fmt.Errorf("runtime: xnnpack delegate: TfLiteXNNPackDelegateCreate failed (XNNPACK could not initialise on this CPU)")
	}
	live.delegates.Add(1)
	d := &delegate{kind: DelegateXNNPack, ptr: ptr}
	d.probe = C.edged_probe_attach(ptr)
	if d.probe != nil && !opts.XNNPackDequantize {
		d.probe.withhold_dequantize = 1
	}
	return d, nil
}

// xnnpackDefaults returns the library's default XNNPACK options, read through the struct
// declared in shim.h; tests use it, with xnnpackThreadPool, to check that declaration.
func xnnpackDefaults() (numThreads int32, flags uint32) {
	o := C.edged_xnnpack_default_options()
	return int32(o.num_threads), uint32(o.flags)
}

// xnnpackThreadPool reports whether an XNNPACK delegate created with numThreads has a thread
// pool (-1: the delegate could not be created).
func xnnpackThreadPool(numThreads int) int {
	return int(C.edged_xnnpack_has_thread_pool(C.int32_t(numThreads)))
}

// close frees the delegate; call it only after the interpreter using it is deleted.
func (d *delegate) close() {
	if d == nil || d.ptr == nil {
		return
	}
	C.edged_probe_detach(d.probe)
	d.probe = nil
	if d.deleteFn == nil {
		C.edged_xnnpack_delete(d.ptr)
	} else {
		C.edged_call_delete(d.deleteFn, d.ptr)
	}
	d.ptr = nil
	for _, s := range d.cstrs {
		C.free(unsafe.Pointer(s))
	}
	d.cstrs = nil
	live.delegates.Add(-1)
}

// Delegation says how much of an interpreter's graph its delegate, and edged's kernels
// applied before it, took over.
type Delegation struct {
	Delegate       DelegateKind
	Nodes          int // operators in the graph
	DelegatedNodes int // of those, operators the delegate runs
	Partitions     int // delegated subgraphs; each boundary costs a hand-over to TFLite's kernels
	// Kernels names the kernel of runtime/kernels that runs KernelNodes operators in
	// KernelPartitions delegate nodes; "" when it took none.
	Kernels          string
	KernelNodes      int
	KernelPartitions int
}

// Full reports whether the delegate and the kernels run every operator.
func (d Delegation) Full() bool { return d.Nodes > 0 && d.DelegatedNodes+d.KernelNodes == d.Nodes }

// String reads like "xnnpack: 5 of 7 operators in 2 partition(s)", followed by
// "; kernels avx2: 2 operators in 1 partition(s)" when the kernels took some.
func (d Delegation) String() string {
	s := fmt.Sprintf("%s: %d of %d operators in %d partition(s)", d.Delegate, d.DelegatedNodes, d.Nodes, d.Partitions)
	if d.Delegate == DelegateNone {
		s = "none: all operators on TFLite's built-in kernels"
		if d.KernelNodes > 0 {
			s = fmt.Sprintf("none: %d operators on TFLite's built-in kernels", d.Nodes-d.KernelNodes)
		}
	}
	if d.KernelNodes > 0 {
		s += fmt.Sprintf("; kernels %s: %d operators in %d partition(s)", d.Kernels, d.KernelNodes, d.KernelPartitions)
	}
	return s
}

// delegation reads the probe of d and the counts of k (either may be nil).
func delegation(kind DelegateKind, d *delegate, k *kernels.Delegate) Delegation {
	out := Delegation{Delegate: kind}
	if d != nil {
		out.Delegate = d.kind
		if d.probe != nil {
			out.Nodes = int(d.probe.nodes)
			out.DelegatedNodes = int(d.probe.delegated_nodes)
			out.Partitions = int(d.probe.partitions)
		}
	}
	if k != nil {
		c := k.Claimed()
		if c.Nodes > 0 {
			out.Kernels, out.KernelNodes, out.KernelPartitions = k.Kernel(), c.Nodes, c.Partitions
			// The delegate was offered the graph with the kernels' partitions in place of the
			// operators they took: the kernels saw it whole.
			out.Nodes = c.GraphNodes
		}
	}
	return out
}

// ---- dynamic libraries ----------------------------------------------------------------------

// Libraries loaded for delegates stay loaded for the life of the process: delegates created
// from them may still be alive, and unloading GPU drivers is a known source of crashes.
var libs struct {
	sync.Mutex
	handles map[string]unsafe.Pointer
}

// openLibrary dlopens path (a file path, or a bare name for the loader's search path).
func openLibrary(path string) (unsafe.Pointer, error) {
	libs.Lock()
	defer libs.Unlock()
	if h, ok := libs.handles[path]; ok {
		return h, nil
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var cerr *C.char
	h := C.edged_dlopen(cpath, &cerr)
	if h == nil {
		defer C.free(unsafe.Pointer(cerr))
		return nil, fmt.Errorf("%s", C.GoString(cerr))
	}
	if libs.handles == nil {
		libs.handles = map[string]unsafe.Pointer{}
	}
	libs.handles[path] = h
	return h, nil
}

func lookupSymbol(h unsafe.Pointer, lib, name string) (unsafe.Pointer, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var cerr *C.char
	s := C.edged_dlsym(h, cname, &cerr)
	if s == nil {
		defer C.free(unsafe.Pointer(cerr))
		return nil, fmt.Errorf("%s has no symbol %s: %s", lib, name, C.GoString(cerr))
	}
	return s, nil
}

// librarySearchPath lists where a delegate library named name may be: beside
// libtensorflowlite_c.so, beside the executable and in ../lib of an installed layout, and
// finally the bare name for the dynamic loader (LD_LIBRARY_PATH, ld.so.cache, /usr/lib...).
func librarySearchPath(name string) []string {
	var dirs []string
	if p := LibraryPath(); p != "" {
		dirs = append(dirs, filepath.Dir(p))
	}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe), filepath.Join(filepath.Dir(exe), "..", "lib"))
	}
	var out []string
	seen := map[string]bool{}
	for _, d := range dirs {
		p := filepath.Clean(filepath.Join(d, name))
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return append(out, name)
}

// findLibrary opens the library at explicit, or else the first one on the search path that
// loads. The error lists every place tried and wraps ErrDelegateUnavailable.
func findLibrary(what, explicit, name string) (unsafe.Pointer, string, error) {
	candidates := []string{explicit}
	if explicit == "" {
		candidates = librarySearchPath(name)
	}
	var tried []string
	for _, c := range candidates {
		if strings.ContainsRune(c, '/') {
			if _, err := os.Stat(c); err != nil {
				tried = append(tried, fmt.Sprintf("%s: %v", c, errNotExistText(err)))
				continue
			}
		}
		h, err := openLibrary(c)
		if err == nil {
			return h, c, nil
		}
		tried = append(tried, err.Error())
	}
	return nil, "", fmt.Errorf("runtime: %s: cannot load %s (tried %s): %w",
		what, name, strings.Join(tried, "; "), ErrDelegateUnavailable)
}

func errNotExistText(err error) string {
	if os.IsNotExist(err) {
		return "no such file"
	}
	return err.Error()
}

// ---- GPU ------------------------------------------------------------------------------------

// GPU delegate option keys accepted in Options.DelegateOptions.
var gpuOptionKeys = map[string]string{
	"precision_loss_allowed":   "true|false: allow fp16 computation (default false)",
	"inference_preference":     "fast_single_answer|sustained_speed (default fast_single_answer)",
	"max_delegated_partitions": "integer >= 1 (default 1)",
	"enable_quant":             "true|false: run quantized models (default true)",
	"backend":                  "any|cl|gl (default any)",
	"serialization_dir":        "directory for cached GPU kernels (needs model_token)",
	"model_token":              "unique name of the model for serialization_dir",
}

// GPU delegate constants of TFLite 2.9 (tensorflow/lite/delegates/gpu/delegate.h).
const (
	gpuPreferenceFastSingleAnswer = 0
	gpuPreferenceSustainedSpeed   = 1
	gpuFlagEnableQuant            = 1 << 0
	gpuFlagCLOnly                 = 1 << 1
	gpuFlagGLOnly                 = 1 << 2
	gpuFlagEnableSerialization    = 1 << 3
	gpuPriorityAuto               = 0
	gpuPriorityMaxPrecision       = 1
	gpuPriorityMinLatency         = 2
)

func newGPU(opts Options) (*delegate, error) {
	// Check the options before loading anything, so a typo is reported on any machine.
	settings, err := parseGPUOptions(opts.DelegateOptions)
	if err != nil {
		return nil, err
	}
	h, path, err := findLibrary("gpu delegate", opts.DelegateLibrary, GPUDelegateLibrary)
	if err != nil {
		return nil, err
	}
	syms := map[string]unsafe.Pointer{}
	for _, name := range []string{"TfLiteGpuDelegateOptionsV2Default", "TfLiteGpuDelegateV2Create", "TfLiteGpuDelegateV2Delete"} {
		s, err := lookupSymbol(h, path, name)
		if err != nil {
			return nil, fmt.Errorf("runtime: gpu delegate: %w: %w", err, ErrDelegateUnavailable)
		}
		syms[name] = s
	}
	// The options live in C memory while the delegate copies them.
	co := (*C.EdgedGpuOptionsPadded)(C.calloc(1, C.size_t(unsafe.Sizeof(C.EdgedGpuOptionsPadded{}))))
	defer C.free(unsafe.Pointer(co))
	C.edged_gpu_default_options(syms["TfLiteGpuDelegateOptionsV2Default"], co)
	d := &delegate{kind: DelegateGPU, deleteFn: syms["TfLiteGpuDelegateV2Delete"]}
	settings.apply(&co.v, d)
	d.ptr = C.edged_gpu_create(syms["TfLiteGpuDelegateV2Create"], co)
	if d.ptr == nil {
		for _, s := range d.cstrs {
			C.free(unsafe.Pointer(s))
		}
		return nil, fmt.Errorf("runtime: gpu delegate %s: TfLiteGpuDelegateV2Create failed", path)
	}
	live.delegates.Add(1)
	return d, nil
}

// gpuSettings are the parsed DelegateOptions; nil fields keep the library's defaults.
type gpuSettings struct {
	precisionLoss  *bool
	preference     *int32
	maxPartitions  *int32
	enableQuant    *bool
	backendFlag    int64 // 0: any
	serializeDir   string
	serializeToken string
}

func parseGPUOptions(m map[string]string) (gpuSettings, error) {
	var s gpuSettings
	for _, k := range sortedKeys(m) {
		v := strings.TrimSpace(m[k])
		bad := func() error {
			return fmt.Errorf("runtime: gpu delegate option %s=%q: want %s", k, v, gpuOptionKeys[k])
		}
		switch k {
		case "precision_loss_allowed", "enable_quant":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return s, bad()
			}
			if k == "enable_quant" {
				s.enableQuant = &b
			} else {
				s.precisionLoss = &b
			}
		case "inference_preference":
			var p int32
			switch v {
			case "fast_single_answer":
				p = gpuPreferenceFastSingleAnswer
			case "sustained_speed":
				p = gpuPreferenceSustainedSpeed
			default:
				return s, bad()
			}
			s.preference = &p
		case "max_delegated_partitions":
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 1 {
				return s, bad()
			}
			p := int32(n)
			s.maxPartitions = &p
		case "backend":
			switch v {
			case "any":
			case "cl":
				s.backendFlag = gpuFlagCLOnly
			case "gl":
				s.backendFlag = gpuFlagGLOnly
			default:
				return s, bad()
			}
		case "serialization_dir":
			s.serializeDir = v
		case "model_token":
			s.serializeToken = v
		default:
			return s, fmt.Errorf("runtime: unknown gpu delegate option %q (known: %s)", k, strings.Join(sortedKeys(gpuOptionKeys), ", "))
		}
	}
	if (s.serializeDir == "") != (s.serializeToken == "") {
		return s, fmt.Errorf("runtime: gpu delegate options serialization_dir and model_token go together")
	}
	return s, nil
}

func (s gpuSettings) apply(o *C.EdgedGpuOptions, d *delegate) {
	if s.precisionLoss != nil {
		o.is_precision_loss_allowed = 0
		if *s.precisionLoss {
			o.is_precision_loss_allowed = 1
			// As TFLite's own tools: precision loss means latency first.
			o.inference_priority1 = gpuPriorityMinLatency
			o.inference_priority2 = gpuPriorityAuto
			o.inference_priority3 = gpuPriorityAuto
		} else {
			o.inference_priority1 = gpuPriorityMaxPrecision
		}
	}
	if s.preference != nil {
		o.inference_preference = C.int32_t(*s.preference)
	}
	if s.maxPartitions != nil {
		o.max_delegated_partitions = C.int32_t(*s.maxPartitions)
	}
	if s.enableQuant != nil {
		if *s.enableQuant {
			o.experimental_flags |= gpuFlagEnableQuant
		} else {
			o.experimental_flags &^= gpuFlagEnableQuant
		}
	}
	o.experimental_flags |= C.int64_t(s.backendFlag)
	if s.serializeDir != "" {
		dir, tok := C.CString(s.serializeDir), C.CString(s.serializeToken)
		d.cstrs = append(d.cstrs, dir, tok)
		o.serialization_dir, o.model_token = dir, tok
		o.experimental_flags |= gpuFlagEnableSerialization
	}
}

// ---- external -------------------------------------------------------------------------------

func newExternal(opts Options) (*delegate, error) {
	plugin := opts.DelegateLibrary
	if plugin == "" {
		return nil, fmt.Errorf("runtime: external delegate: Options.DelegateLibrary must name the delegate plugin (.so)")
	}
	h, _, err := findLibrary("external delegate", plugin, filepath.Base(plugin))
	if err != nil {
		return nil, err
	}
	syms := map[string]unsafe.Pointer{}
	for _, name := range []string{"tflite_plugin_create_delegate", "tflite_plugin_destroy_delegate"} {
		s, err := lookupSymbol(h, plugin, name)
		if err != nil {
			return nil, fmt.Errorf("runtime: external delegate: %w (not a TFLite delegate plugin): %w", err, ErrDelegateUnavailable)
		}
		syms[name] = s
	}
	// Keys and values in C memory, for the duration of the call.
	keys := sortedKeys(opts.DelegateOptions)
	n := len(keys)
	arr := (**C.char)(C.calloc(C.size_t(2*n+1), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	defer C.free(unsafe.Pointer(arr))
	ptrs := unsafe.Slice(arr, 2*n+1)
	for i, k := range keys {
		ptrs[i], ptrs[n+i] = C.CString(k), C.CString(opts.DelegateOptions[k])
	}
	defer func() {
		for _, p := range ptrs[:2*n] {
			C.free(unsafe.Pointer(p))
		}
	}()
	errBuf := (*C.char)(C.calloc(1, 1024))
	defer C.free(unsafe.Pointer(errBuf))
	ptr := C.edged_plugin_create(syms["tflite_plugin_create_delegate"], arr, (**C.char)(unsafe.Pointer(&ptrs[n])), C.size_t(n), errBuf, 1024)
	if ptr == nil {
		reason := C.GoString(errBuf)
		if reason == "" {
			reason = "no reason given"
		}
		return nil, fmt.Errorf("runtime: external delegate %s with options %s: the plugin returned no delegate: %s",
			plugin, formatOptions(opts.DelegateOptions), reason)
	}
	live.delegates.Add(1)
	return &delegate{kind: DelegateExternal, ptr: ptr, deleteFn: syms["tflite_plugin_destroy_delegate"]}, nil
}

func formatOptions(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+"="+m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ---- what this machine can load ---------------------------------------------------------------

// DelegateStatus says whether a delegate can be used on this machine.
type DelegateStatus struct {
	Kind      DelegateKind
	Available bool
	Library   string // the library that provides it, when known
	Detail    string // why not, or how to use it
}

// CoralPlugin is the file name of the Coral Edge TPU's external delegate plugin.
const CoralPlugin = "libedgetpu.so.1"

// ProbeDelegates reports which delegates this machine can load, without creating any: the
// GPU delegate library is searched for and checked for its entry points, and the Coral plugin
// is looked up as an example external delegate. Libraries found stay loaded.
func ProbeDelegates() []DelegateStatus {
	out := []DelegateStatus{
		{Kind: DelegateNone, Available: true, Library: LibraryPath(), Detail: "TFLite's built-in kernels"},
		{Kind: DelegateXNNPack, Available: true, Library: LibraryPath(), Detail: "linked into the TFLite library"},
	}
	gpu := DelegateStatus{Kind: DelegateGPU}
	if h, path, err := findLibrary("gpu delegate", "", GPUDelegateLibrary); err != nil {
		gpu.Detail = err.Error()
	} else if _, err := lookupSymbol(h, path, "TfLiteGpuDelegateV2Create"); err != nil {
		gpu.Library, gpu.Detail = path, err.Error()
	} else {
		gpu.Available, gpu.Library = true, path
	}
	out = append(out, gpu)
	ext := DelegateStatus{Kind: DelegateExternal, Available: true,
		Detail: "give the plugin in Options.DelegateLibrary; " + CoralPlugin + " not found"}
	if h, path, err := findLibrary("external delegate", "", CoralPlugin); err == nil {
		if _, err := lookupSymbol(h, path, "tflite_plugin_create_delegate"); err == nil {
			ext.Library, ext.Detail = path, "Coral Edge TPU plugin found"
		}
	}
	return append(out, ext)
}
