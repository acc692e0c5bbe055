package tflite_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/runtime/tflite"
)

func TestVersion(t *testing.T) {
	if v := tflite.Version(); !strings.HasPrefix(v, "2.9") {
		t.Errorf("Version() = %q, want the 2.9 library", v)
	}
	if p := tflite.LibraryPath(); filepath.Base(p) != "libtensorflowlite_c.so" {
		t.Errorf("LibraryPath() = %q, want a path to libtensorflowlite_c.so", p)
	}
}

// runAdd sets a and b, invokes and returns the sum.
func runAdd(t *testing.T, ip *tflite.Interpreter, a, b []float32) []float32 {
	t.Helper()
	if err := ip.Input(0).SetFloat32(a); err != nil {
		t.Fatal(err)
	}
	if err := ip.Input(1).SetFloat32(b); err != nil {
		t.Fatal(err)
	}
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	out, err := ip.Output(0).Float32()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadModelFromFileAndBytes(t *testing.T) {
	noLeaks(t)
	data := addModel(t, 4)
	path := filepath.Join(t.TempDir(), "add.tflite")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fromFile, err := tflite.LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fromFile.Close()
	fromBytes, err := tflite.NewModel(data)
	if err != nil {
		t.Fatal(err)
	}
	defer fromBytes.Close()
	// NewModel copies: scribbling over the caller's slice must not matter.
	clear(data)

	a, b := []float32{1, 2, 3, 4}, []float32{0.5, -2, 10, 1e6}
	for name, m := range map[string]*tflite.Model{"file": fromFile, "bytes": fromBytes} {
		ip, err := tflite.NewInterpreter(m, tflite.Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := runAdd(t, ip, a, b)
		ip.Close()
		want := []float32{1.5, 0, 13, 1000004}
		if !slices.Equal(got, want) {
			t.Errorf("%s: a+b = %v, want %v", name, got, want)
		}
	}
}

// ADD of float32 is exact in IEEE arithmetic, on every kernel: the results must be equal.
func TestAddMatchesGo(t *testing.T) {
	noLeaks(t)
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range cpuConfigs {
		t.Run(c.name, func(t *testing.T) {
			ip := newInterpreter(t, addModel(t, 64), c.opts)
			a, b := randFloats(r, 64), randFloats(r, 64)
			got := runAdd(t, ip, a, b)
			for i := range got {
				if want := a[i] + b[i]; got[i] != want {
					t.Fatalf("sum[%d] = %v, want %v", i, got[i], want)
				}
			}
		})
	}
}

// fcReference is y = x·Wᵀ + bias in float64.
func fcReference(x, w, bias []float32, k, n int) []float64 {
	y := make([]float64, n)
	for j := range n {
		acc := float64(bias[j])
		for i := range k {
			acc += float64(x[i]) * float64(w[j*k+i])
		}
		y[j] = acc
	}
	return y
}

// FULLY_CONNECTED sums in float32 in an order each kernel chooses (XNNPACK uses FMA and
// blocking). With k = 64 terms of unit size the float32 rounding error stays below
// 64 * 2^-24 * |terms| ≈ 1e-5 * 8; the tolerance is 1e-4 absolute plus 1e-5 relative.
func TestFullyConnectedMatchesGo(t *testing.T) {
	noLeaks(t)
	const k, n = 64, 16
	r := rand.New(rand.NewPCG(3, 4))
	w, bias := randFloats(r, n*k), randFloats(r, n)
	data := fcModel(t, k, n, w, bias)
	for _, c := range cpuConfigs {
		t.Run(c.name, func(t *testing.T) {
			ip := newInterpreter(t, data, c.opts)
			for range 3 {
				x := randFloats(r, k)
				if err := ip.Input(0).SetFloat32(x); err != nil {
					t.Fatal(err)
				}
				if err := ip.Invoke(); err != nil {
					t.Fatal(err)
				}
				got := make([]float32, n)
				if err := ip.Output(0).ReadFloat32(got); err != nil {
					t.Fatal(err)
				}
				for j, want := range fcReference(x, w, bias, k, n) {
					if d := math.Abs(float64(got[j]) - want); d > 1e-4+1e-5*math.Abs(want) {
						t.Fatalf("y[%d] = %v, want %v (|diff| %g)", j, got[j], want, d)
					}
				}
			}
		})
	}
}

func TestDelegationReport(t *testing.T) {
	noLeaks(t)
	r := rand.New(rand.NewPCG(5, 6))
	data := fcModel(t, 8, 4, randFloats(r, 32), randFloats(r, 4))

	none := newInterpreter(t, data, tflite.Options{Delegate: tflite.DelegateNone})
	if d := none.Delegation(); d.Delegate != tflite.DelegateNone || d.DelegatedNodes != 0 {
		t.Errorf("none: Delegation() = %+v", d)
	}
	xnn := newInterpreter(t, data, tflite.Options{})
	d := xnn.Delegation()
	if want := (tflite.Delegation{Delegate: tflite.DelegateXNNPack, Nodes: 1, DelegatedNodes: 1, Partitions: 1}); d != want {
		t.Errorf("xnnpack on a float FULLY_CONNECTED: Delegation() = %+v, want %+v", d, want)
	}
	if !d.Full() || d.String() != "xnnpack: 1 of 1 operators in 1 partition(s)" {
		t.Errorf("Full() = %v, String() = %q", d.Full(), d)
	}
}

// quantFCCase is a fully quantized FULLY_CONNECTED with per-tensor weights, of dtype int8 or
// uint8 with random weights and bias.
func quantFCCase(r *rand.Rand, dtype tflite.DType) quantFCParams {
	const k, n = 32, 8
	// yScale keeps most outputs inside the quantized range for random x and w.
	p := quantFCParams{dtype: tflite.Int8, k: k, n: n, xScale: 0.05, xZero: 3, wScale: []float32{0.02},
		yScale: 0.5, yZero: -2, qmin: -128, qmax: 127}
	if dtype == tflite.Uint8 {
		p = quantFCParams{dtype: tflite.Uint8, k: k, n: n, xScale: 0.05, xZero: 128, wScale: []float32{0.02},
			wZero: 120, yScale: 0.5, yZero: 130, qmin: 0, qmax: 255}
	}
	p.w = make([]int32, n*k)
	for i := range p.w {
		p.w[i] = p.qmin + int32(r.IntN(int(p.qmax-p.qmin+1)))
	}
	p.bias = make([]int32, n)
	for i := range p.bias {
		p.bias[i] = int32(r.IntN(2001)) - 1000
	}
	return p
}

func setQuant(ip *tflite.Interpreter, dtype tflite.DType, x []int32) error {
	if dtype == tflite.Int8 {
		v := make([]int8, len(x))
		for i := range x {
			v[i] = int8(x[i])
		}
		return ip.Input(0).SetInt8(v)
	}
	v := make([]uint8, len(x))
	for i := range x {
		v[i] = uint8(x[i])
	}
	return ip.Input(0).SetUint8(v)
}

func getQuant(ip *tflite.Interpreter, dtype tflite.DType) ([]int32, error) {
	var out []int32
	if dtype == tflite.Int8 {
		v, err := ip.Output(0).Int8()
		for _, q := range v {
			out = append(out, int32(q))
		}
		return out, err
	}
	v, err := ip.Output(0).Uint8()
	for _, q := range v {
		out = append(out, int32(q))
	}
	return out, err
}

// TestXNNPackQuantizedPartitioning pins what this TFLite build does with quantized operators:
// XNNPACK takes an int8 FULLY_CONNECTED only with the QS8 flag and leaves it to TFLite's
// kernels otherwise; it never takes uint8 without QU8, and with QU8 it claims uint8 operators
// but cannot build them, so the interpreter cannot be created. Every configuration that runs
// must match the Go reference within one quantization step (kernels round the rescale
// differently).
func TestXNNPackQuantizedPartitioning(t *testing.T) {
	noLeaks(t)
	r := rand.New(rand.NewPCG(7, 8))
	cases := []struct {
		name      string
		dtype     tflite.DType
		opts      tflite.Options
		delegated int
		createErr string // non-empty: NewInterpreter fails with this
	}{
		{"int8/none", tflite.Int8, tflite.Options{Delegate: tflite.DelegateNone}, 0, ""},
		// XNNPACK alone: edged's kernels (runtime/kernels) would take the int8 operator first.
		{"int8/xnnpack", tflite.Int8, tflite.Options{Kernels: "off"}, 0, ""},
		{"int8/xnnpack-qs8", tflite.Int8, tflite.Options{XNNPackQS8: true, Kernels: "off"}, 1, ""},
		{"int8/xnnpack-qu8", tflite.Int8, tflite.Options{XNNPackQU8: true, Kernels: "off"}, 0, ""},
		{"uint8/none", tflite.Uint8, tflite.Options{Delegate: tflite.DelegateNone}, 0, ""},
		{"uint8/xnnpack", tflite.Uint8, tflite.Options{}, 0, ""},
		{"uint8/xnnpack-qs8", tflite.Uint8, tflite.Options{XNNPackQS8: true}, 0, ""},
		{"uint8/xnnpack-qu8", tflite.Uint8, tflite.Options{XNNPackQU8: true}, 0, "failed to delegate FULLY_CONNECTED node #0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := quantFCCase(r, c.dtype)
			data := quantFCModel(t, p)
			if c.createErr != "" {
				m, err := tflite.NewModel(data)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				_, err = tflite.NewInterpreter(m, c.opts)
				wantErr(t, err, "delegate xnnpack", c.createErr)
				return
			}
			ip := newInterpreter(t, data, c.opts)
			if d := ip.Delegation(); d.DelegatedNodes != c.delegated {
				t.Errorf("Delegation() = %v, want %d operator(s) delegated", d, c.delegated)
			}
			x := make([]int32, p.k)
			for i := range x {
				x[i] = p.qmin + int32(r.IntN(int(p.qmax-p.qmin+1)))
			}
			if err := setQuant(ip, p.dtype, x); err != nil {
				t.Fatal(err)
			}
			if err := ip.Invoke(); err != nil {
				t.Fatal(err)
			}
			got, err := getQuant(ip, p.dtype)
			if err != nil {
				t.Fatal(err)
			}
			want := p.reference(x)
			for j := range want {
				if d := got[j] - want[j]; d < -1 || d > 1 {
					t.Fatalf("y = %v, want %v (±1)", got, want)
				}
			}
		})
	}
}

// TestPerChannelFullyConnectedIgnoredByTFLite29 pins a limitation of the 2.9 library that
// converters must know: FULLY_CONNECTED with per-channel weight scales runs without an error
// but computes nothing: the output is the output zero point everywhere (TFLite 2.9 rescales
// with the legacy per-tensor scale, which is 0 for per-channel tensors). The same holds for
// dynamic-range (float input, int8 weights) FULLY_CONNECTED, whose output is the bias alone.
// XNNPACK does not take the operator either. Use per-tensor weight scales for
// FULLY_CONNECTED with this tflite.
func TestPerChannelFullyConnectedIgnoredByTFLite29(t *testing.T) {
	noLeaks(t)
	const k, n = 8, 4
	r := rand.New(rand.NewPCG(9, 10))
	p := quantFCParams{dtype: tflite.Int8, k: k, n: n, xScale: 0.05, wScale: []float32{0.02, 0.01, 0.03, 0.015},
		yScale: 0.05, yZero: -2, qmin: -128, qmax: 127, bias: []int32{40, -60, 0, 80}}
	p.w = make([]int32, n*k)
	for i := range p.w {
		p.w[i] = int32(r.IntN(255)) - 127
	}
	data := quantFCModel(t, p)
	for _, opts := range []tflite.Options{{Delegate: tflite.DelegateNone}, {Delegate: tflite.DelegateXNNPack, XNNPackQS8: true}} {
		ip := newInterpreter(t, data, opts)
		if d := ip.Delegation(); d.DelegatedNodes != 0 {
			t.Errorf("%s: XNNPACK took a per-channel FULLY_CONNECTED (%v): re-check this limitation", opts.Delegate, d)
		}
		x := []int32{10, -20, 30, -40, 50, -60, 70, -80}
		if err := setQuant(ip, tflite.Int8, x); err != nil {
			t.Fatal(err)
		}
		if err := ip.Invoke(); err != nil {
			t.Fatal(err)
		}
		got, err := getQuant(ip, tflite.Int8)
		if err != nil {
			t.Fatal(err)
		}
		zeros := []int32{p.yZero, p.yZero, p.yZero, p.yZero}
		if !slices.Equal(got, zeros) {
			t.Errorf("%s: y = %v; TFLite 2.9 gave the zero point %v (the correct result is %v): if per-channel weights now work, update the package doc and this test",
				opts.Delegate, got, zeros, p.reference(x))
		}
	}
}

func TestResizeInput(t *testing.T) {
	noLeaks(t)
	for _, c := range cpuConfigs {
		t.Run(c.name, func(t *testing.T) {
			ip := newInterpreter(t, addModel(t, 4), c.opts)
			// [3,4] + [1,4] broadcasts; the output follows.
			if err := ip.ResizeInput(0, []int{3, 4}); err != nil {
				t.Fatal(err)
			}
			if got := ip.Output(0).Shape(); !slices.Equal(got, []int{3, 4}) {
				t.Fatalf("output shape after resize = %v, want [3 4]", got)
			}
			a := []float32{1, 2, 3, 4, 10, 20, 30, 40, 100, 200, 300, 400}
			b := []float32{0.5, 0.25, 0.125, 0}
			got := runAdd(t, ip, a, b)
			for i := range a {
				if want := a[i] + b[i%4]; got[i] != want {
					t.Fatalf("sum[%d] = %v, want %v", i, got[i], want)
				}
			}
			if c.opts.Delegate != tflite.DelegateNone {
				if d := ip.Delegation(); !d.Full() {
					t.Errorf("after resize the delegate was re-applied but reports %v", d)
				}
			}

			// [1,5] cannot broadcast with [1,4]: TFLite's reason, old shape restored.
			err := ip.ResizeInput(0, []int{1, 5})
			wantErr(t, err, `input 0 "a"`, "[1 5]", "broadcastable", "restored")
			if got := ip.Input(0).Shape(); !slices.Equal(got, []int{3, 4}) {
				t.Fatalf("shape after failed resize = %v, want [3 4] restored", got)
			}
			if got := runAdd(t, ip, a, b); got[11] != 400 {
				t.Fatalf("interpreter unusable after a failed resize: %v", got)
			}

			// Resizing to the current shape is a no-op that keeps the tensors' data.
			if err := ip.ResizeInput(0, []int{3, 4}); err != nil {
				t.Fatal(err)
			}
			if got, err := ip.Input(0).Float32(); err != nil || !slices.Equal(got, a) {
				t.Fatalf("input after a same-shape resize = %v, %v; want %v", got, err, a)
			}
			wantErr(t, ip.ResizeInput(0, []int{1, -4}), "dimension 1 is -4")
			wantErr(t, ip.ResizeInput(0, nil), "empty shape")
			wantErr(t, ip.ResizeInput(2, []int{1, 4}), "resize input 2: out of range, the model has 2 input(s)")
		})
	}
}

func TestTensorsByName(t *testing.T) {
	noLeaks(t)
	ip := newInterpreter(t, addModel(t, 4), tflite.Options{})
	if ip.InputCount() != 2 || ip.OutputCount() != 1 {
		t.Fatalf("counts = %d in, %d out; want 2, 1", ip.InputCount(), ip.OutputCount())
	}
	b, err := ip.InputByName("b")
	if err != nil || b.String() != ip.Input(1).String() {
		t.Fatalf("InputByName(b) = %v, %v; want input 1", b, err)
	}
	sum, err := ip.OutputByName("sum")
	if err != nil || sum.String() != ip.Output(0).String() {
		t.Fatalf("OutputByName(sum) = %v, %v; want output 0", sum, err)
	}
	_, err = ip.InputByName("c")
	wantErr(t, err, `no input named "c"`, `["a" "b"]`)
	_, err = ip.OutputByName("a")
	wantErr(t, err, `no output named "a"`, `["sum"]`)
	if s := ip.Input(0).String(); s != `input 0 "a" float32[1 4]` {
		t.Errorf("String() = %q", s)
	}
}

// A model may be closed while interpreters made from it run; its memory goes with the last.
func TestModelClosedBeforeInterpreter(t *testing.T) {
	noLeaks(t)
	m, err := tflite.NewModel(addModel(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	ip, err := tflite.NewInterpreter(m, tflite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	m.Close()
	if h := tflite.LiveHandles(); h.Models != 1 || h.ModelBuffers != 1 {
		t.Fatalf("model memory freed while an interpreter uses it: %s", h)
	}
	if got := runAdd(t, ip, []float32{1, 1, 1, 1}, []float32{2, 2, 2, 2}); got[0] != 3 {
		t.Fatalf("sum = %v", got)
	}
	_, err = tflite.NewInterpreter(m, tflite.Options{})
	if !errors.Is(err, tflite.ErrClosed) {
		t.Fatalf("NewInterpreter on a closed model: %v, want ErrClosed", err)
	}
	ip.Close()
	if h := tflite.LiveHandles(); h.Total() != 0 {
		t.Fatalf("after the last interpreter closed: %s", h)
	}
}

func TestUseAfterClose(t *testing.T) {
	noLeaks(t)
	m, err := tflite.NewModel(addModel(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	ip, err := tflite.NewInterpreter(m, tflite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := ip.Input(0)
	for range 2 { // double Close is safe
		if err := ip.Close(); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	checks := map[string]error{
		"Invoke":      ip.Invoke(),
		"ResizeInput": ip.ResizeInput(0, []int{1, 4}),
		"SetFloat32":  in.SetFloat32([]float32{1, 2, 3, 4}),
		"ReadFloat32": in.ReadFloat32(make([]float32, 4)),
	}
	_, checks["Float32"] = ip.Output(0).Float32()
	_, checks["InputByName"] = ip.InputByName("a")
	for name, err := range checks {
		if !errors.Is(err, tflite.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if in.Name() != "" || in.Shape() != nil || in.Type() != tflite.NoType || in.Quantization().Quantized() {
		t.Errorf("metadata of a closed interpreter's tensor should be empty")
	}
}

// Finalizers are only a backstop, but they must free what a careless caller drops.
func TestFinalizerBackstop(t *testing.T) {
	noLeaks(t)
	func() {
		m, err := tflite.NewModel(addModel(t, 4))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tflite.NewInterpreter(m, tflite.Options{}); err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for tflite.LiveHandles().Total() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("finalizers did not free dropped handles: %s", tflite.LiveHandles())
		}
		runtime.GC()
		runtime.Gosched()
	}
}

// Dynamic-range FULLY_CONNECTED (float32 x, per-tensor int8 weights, float32 bias) runs on
// TFLite's hybrid kernel, which quantizes x on the fly; XNNPACK does not take it, QS8 or not.
// The hybrid kernel quantizes x symmetrically with scale s = max|x|/127, so each output may
// differ from float maths on the dequantized weights by at most Σ|w|·s/2 (plus 1e-5 for
// float32 rounding): that bound is the tolerance.
func TestDynamicRangeFullyConnectedStaysOnTFLite(t *testing.T) {
	noLeaks(t)
	const k, n = 16, 4
	const wScale = 0.02
	r := rand.New(rand.NewPCG(21, 22))
	wq := make([]int8, n*k)
	for i := range wq {
		wq[i] = int8(r.IntN(255) - 127)
	}
	bias := randFloats(r, n)
	m := &tmModel{}
	x := m.add(tmTensor{name: "x", dtype: tflite.Float32, shape: []int32{1, k}})
	w := m.add(tmTensor{name: "w", dtype: tflite.Int8, shape: []int32{n, k}, data: i8Bytes(wq), scale: []float32{wScale}, zero: []int64{0}})
	b := m.add(tmTensor{name: "bias", dtype: tflite.Float32, shape: []int32{n}, data: f32Bytes(bias)})
	y := m.add(tmTensor{name: "y", dtype: tflite.Float32, shape: []int32{1, n}})
	m.ops = []tmOp{{builtin: opFullyConnected, inputs: []int32{x, w, b}, outputs: []int32{y}, optType: optFullyConnected, options: fullyConnectedOptions}}
	m.inputs, m.outputs = []int32{x}, []int32{y}
	data := m.bytes(t)

	wf := make([]float32, len(wq))
	for i, q := range wq {
		wf[i] = wScale * float32(q)
	}
	xs := randFloats(r, k)
	var maxAbs float64
	for _, v := range xs {
		maxAbs = max(maxAbs, math.Abs(float64(v)))
	}
	for _, opts := range []tflite.Options{{Delegate: tflite.DelegateNone}, {Delegate: tflite.DelegateXNNPack}, {Delegate: tflite.DelegateXNNPack, XNNPackQS8: true}} {
		ip := newInterpreter(t, data, opts)
		if d := ip.Delegation(); d.DelegatedNodes != 0 {
			t.Errorf("%+v: %v; a dynamic-range FULLY_CONNECTED was delegated: update the package doc", opts, d)
		}
		if err := ip.Input(0).SetFloat32(xs); err != nil {
			t.Fatal(err)
		}
		if err := ip.Invoke(); err != nil {
			t.Fatal(err)
		}
		got, err := ip.Output(0).Float32()
		if err != nil {
			t.Fatal(err)
		}
		for j, want := range fcReference(xs, wf, bias, k, n) {
			var sumW float64
			for i := range k {
				sumW += math.Abs(float64(wf[j*k+i]))
			}
			if tol := sumW*maxAbs/127/2 + 1e-5; math.Abs(float64(got[j])-want) > tol {
				t.Fatalf("%+v: y[%d] = %v, want %v ± %.3g", opts, j, got[j], want, tol)
			}
		}
	}
}

// TestDropFilePagesKeepsResults: the pages of a mapped model are dropped after each
// NewInterpreter and may be dropped again between invokes; a constant that TFLite's own kernel
// reads at every Invoke (GATHER's table, with delegate none and with XNNPACK, which does not
// take GATHER) comes back from the file.
func TestDropFilePagesKeepsResults(t *testing.T) {
	noLeaks(t)
	table := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	path := filepath.Join(t.TempDir(), "gather.tflite")
	if err := os.WriteFile(path, gatherModel(t, table), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := tflite.LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, c := range cpuConfigs {
		ip, err := tflite.NewInterpreter(m, c.opts)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for round := range 2 {
			if err := ip.Input(0).SetInt32([]int32{3, 1}); err != nil {
				t.Fatal(err)
			}
			if err := ip.Invoke(); err != nil {
				t.Fatal(err)
			}
			got, err := ip.Output(0).Float32()
			if err != nil {
				t.Fatal(err)
			}
			if want := []float32{7, 8, 3, 4}; !slices.Equal(got, want) {
				t.Errorf("%s, round %d: rows %v, want %v", c.name, round, got, want)
			}
			if err := m.DropFilePages(); err != nil {
				t.Fatal(err)
			}
		}
		ip.Close()
	}
	// A model from bytes has no file pages: nothing to drop, no error.
	b, err := tflite.NewModel(addModel(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.DropFilePages(); err != nil {
		t.Error(err)
	}
}
