package tflite_test

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/edged/edged/runtime/tflite"
)

// Every broken file gives an error that says what is wrong and where, from LoadModel and
// from NewModel alike, and leaves no native handle behind. (TFLite itself also prints
// "ERROR: The model is not a valid Flatbuffer buffer" to stderr for the corrupt ones.)
func TestLoadBadModels(t *testing.T) {
	noLeaks(t)
	good := addModel(t, 4)
	random := make([]byte, 4096)
	r := rand.New(rand.NewPCG(11, 12))
	for i := range random {
		random[i] = byte(r.UintN(256))
	}
	headerThenNoise := append([]byte{0x1c, 0, 0, 0, 'T', 'F', 'L', '3'}, random[:512]...)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "0 bytes is too short for a TFLite model"},
		{"short", []byte("TFL3"), "4 bytes is too short for a TFLite model"},
		{"random bytes", random, "not a TFLite model (file identifier"},
		{"text", []byte("name: edged\nversion: 1\n"), `not a TFLite model (file identifier ": ed", want "TFL3")`},
		{"truncated to half", good[:len(good)/2], "TFLite rejected the file"},
		{"truncated by 8 bytes", good[:len(good)-8], "TFLite rejected the file"},
		{"valid header, noise after", headerThenNoise, "TFLite rejected the file"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := tflite.NewModel(c.data)
			wantErr(t, err, "runtime: load model <", c.want)
			path := filepath.Join(dir, "bad.tflite")
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = tflite.LoadModel(path)
			wantErr(t, err, "runtime: load model "+path+": ", c.want)
		})
	}

	_, err := tflite.LoadModel(filepath.Join(dir, "missing.tflite"))
	wantErr(t, err, "missing.tflite", "no such file")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v does not wrap fs.ErrNotExist", err)
	}
	_, err = tflite.LoadModel(dir)
	wantErr(t, err, dir, "is a directory")
}

// A model that loads but names an operator this library lacks fails at NewInterpreter with
// TFLite's own reason.
func TestUnresolvedOperators(t *testing.T) {
	noLeaks(t)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"builtin code beyond 2.9", unknownOpModel(t, 250, "", 1), "Op builtin_code out of range: 250"},
		{"custom op", unknownOpModel(t, opCustom, "EdgedNoSuchOp", 1), "unresolved custom op: EdgedNoSuchOp"},
		{"kernel version too new", unknownOpModel(t, opAdd, "", 99), "Didn't find op for builtin opcode 'ADD' version '99'"},
	}
	for _, c := range cases {
		for _, d := range []tflite.DelegateKind{tflite.DelegateNone, tflite.DelegateXNNPack} {
			t.Run(c.name+"/"+string(d), func(t *testing.T) {
				m, err := tflite.NewModel(c.data)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				_, err = tflite.NewInterpreter(m, tflite.Options{Delegate: d})
				wantErr(t, err, "runtime: create interpreter for <", "(delegate "+string(d)+")", c.want)
			})
		}
	}
}

func TestBadOptions(t *testing.T) {
	noLeaks(t)
	m, err := tflite.NewModel(addModel(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cases := []struct {
		name string
		opts tflite.Options
		want string
	}{
		{"negative threads", tflite.Options{Threads: -2}, "Options.Threads is -2"},
		{"unknown delegate", tflite.Options{Delegate: "tpu"}, `unknown delegate "tpu"`},
		{"xnnpack flag without xnnpack", tflite.Options{Delegate: tflite.DelegateNone, XNNPackQS8: true}, `XNNPack flags set with delegate "none"`},
		{"library for xnnpack", tflite.Options{DelegateLibrary: "/x.so"}, `not "xnnpack"`},
		{"options for none", tflite.Options{Delegate: tflite.DelegateNone, DelegateOptions: map[string]string{"a": "b"}}, `not "none"`},
		{"gpu: unknown option", tflite.Options{Delegate: tflite.DelegateGPU, DelegateOptions: map[string]string{"precision": "fp16"}},
			`unknown gpu delegate option "precision" (known: backend, enable_quant,`},
		{"gpu: bad bool", tflite.Options{Delegate: tflite.DelegateGPU, DelegateOptions: map[string]string{"precision_loss_allowed": "maybe"}},
			`gpu delegate option precision_loss_allowed="maybe": want true|false`},
		{"gpu: bad partitions", tflite.Options{Delegate: tflite.DelegateGPU, DelegateOptions: map[string]string{"max_delegated_partitions": "0"}},
			`max_delegated_partitions="0": want integer >= 1`},
		{"gpu: half of serialization", tflite.Options{Delegate: tflite.DelegateGPU, DelegateOptions: map[string]string{"serialization_dir": "/tmp"}},
			"serialization_dir and model_token go together"},
		{"external without plugin", tflite.Options{Delegate: tflite.DelegateExternal}, "Options.DelegateLibrary must name the delegate plugin"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := tflite.NewInterpreter(m, c.opts)
			wantErr(t, err, c.want)
		})
	}
	for in, want := range map[string]tflite.DelegateKind{"": "xnnpack", " GPU ": "gpu", "none": "none", "external": "external"} {
		if got, err := tflite.ParseDelegateKind(in); err != nil || got != want {
			t.Errorf("ParseDelegateKind(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// A delegate library that is missing, not a library, or not the right library is an error
// wrapping ErrDelegateUnavailable that names what was tried; nothing crashes or leaks.
func TestMissingDelegateLibraries(t *testing.T) {
	noLeaks(t)
	m, err := tflite.NewModel(addModel(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dir := t.TempDir()
	notALibrary := filepath.Join(dir, "libtensorflowlite_gpu_delegate.so")
	if err := os.WriteFile(notALibrary, []byte("this is not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	tfliteDir := filepath.Dir(tflite.LibraryPath())
	cases := []struct {
		name string
		opts tflite.Options
		want []string
	}{
		{"gpu: missing file", tflite.Options{Delegate: tflite.DelegateGPU, DelegateLibrary: filepath.Join(dir, "nope.so")},
			[]string{"gpu delegate: cannot load libtensorflowlite_gpu_delegate.so", filepath.Join(dir, "nope.so") + ": no such file"}},
		{"gpu: not a library", tflite.Options{Delegate: tflite.DelegateGPU, DelegateLibrary: notALibrary},
			[]string{notALibrary, "file too short"}},
		{"gpu: wrong library", tflite.Options{Delegate: tflite.DelegateGPU, DelegateLibrary: filepath.Join(tfliteDir, "libexternal_delegate_obj.so")},
			[]string{"libexternal_delegate_obj.so has no symbol TfLiteGpuDelegateOptionsV2Default"}},
		{"external: missing plugin", tflite.Options{Delegate: tflite.DelegateExternal, DelegateLibrary: filepath.Join(dir, "libedgetpu.so.1")},
			[]string{"external delegate: cannot load libedgetpu.so.1", "no such file"}},
		{"external: not a plugin", tflite.Options{Delegate: tflite.DelegateExternal, DelegateLibrary: tflite.LibraryPath()},
			[]string{"has no symbol tflite_plugin_create_delegate", "(not a TFLite delegate plugin)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := tflite.NewInterpreter(m, c.opts)
			wantErr(t, err, c.want...)
			if !errors.Is(err, tflite.ErrDelegateUnavailable) {
				t.Errorf("%v does not wrap ErrDelegateUnavailable", err)
			}
		})
	}

	// Searching: ProbeDelegates and NewInterpreter agree on whether a GPU delegate is here; on a
	// machine without one the error lists where it looked.
	status := map[tflite.DelegateKind]tflite.DelegateStatus{}
	for _, st := range tflite.ProbeDelegates() {
		status[st.Kind] = st
	}
	if len(status) != 4 || !status[tflite.DelegateNone].Available || !status[tflite.DelegateXNNPack].Available {
		t.Errorf("ProbeDelegates() = %+v", status)
	}
	ip, err := tflite.NewInterpreter(m, tflite.Options{Delegate: tflite.DelegateGPU})
	if gpu := status[tflite.DelegateGPU]; gpu.Available != (err == nil) {
		t.Errorf("ProbeDelegates says gpu available=%v (%s), NewInterpreter says %v", gpu.Available, gpu.Detail, err)
	}
	if err == nil {
		ip.Close()
		t.Skip("a GPU delegate library is installed here; the search error cannot be checked")
	}
	wantErr(t, err, filepath.Join(tfliteDir, tflite.GPUDelegateLibrary)+": no such file", "; "+tflite.GPUDelegateLibrary+": ")
}

// A failure inside a kernel during Invoke carries TFLite's reported reason, and the
// interpreter works again with good input. (TFLite 2.9's GATHER rejects negative indices but
// does not check indices past the end: callers must validate token ids themselves.)
func TestInvokeErrorCarriesTFLiteReason(t *testing.T) {
	noLeaks(t)
	table := []float32{0, 1, 10, 11, 20, 21, 30, 31}
	for _, c := range cpuConfigs {
		t.Run("gather/"+c.name, func(t *testing.T) {
			ip := newInterpreter(t, gatherModel(t, table), c.opts)
			if err := ip.Input(0).SetInt32([]int32{1, -1}); err != nil {
				t.Fatal(err)
			}
			wantErr(t, ip.Invoke(), "runtime: invoke <", "indices_has_only_positive_elements was not true", "Node number 0 (GATHER) failed to invoke")
			if err := ip.Input(0).SetInt32([]int32{3, 0}); err != nil {
				t.Fatal(err)
			}
			if err := ip.Invoke(); err != nil {
				t.Fatal(err)
			}
			got, err := ip.Output(0).Float32()
			if err != nil || !slices.Equal(got, []float32{30, 31, 0, 1}) {
				t.Fatalf("rows = %v, %v; want [30 31 0 1]", got, err)
			}
		})
	}

	// An output whose shape is computed during Invoke has no memory before it, and a shape
	// input that does not fit fails inside RESHAPE.
	ip := newInterpreter(t, dynamicReshapeModel(t), tflite.Options{Delegate: tflite.DelegateNone})
	_, err := ip.Output(0).Float32()
	wantErr(t, err, `output 0 "y"`, "tensor memory is not allocated")
	if err := ip.Input(0).SetFloat32([]float32{1, 2, 3, 4, 5, 6}); err != nil {
		t.Fatal(err)
	}
	if err := ip.Input(1).SetInt32([]int32{4, 2}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, ip.Invoke(), "num_input_elements != num_output_elements (6 != 8)", "(RESHAPE) failed to invoke")
	if err := ip.Input(1).SetInt32([]int32{3, 2}); err != nil {
		t.Fatal(err)
	}
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	if got, err := ip.Output(0).Float32(); err != nil || !slices.Equal(ip.Output(0).Shape(), []int{3, 2}) || got[5] != 6 {
		t.Fatalf("after a good shape: %v %v, shape %v", got, err, ip.Output(0).Shape())
	}
}

// TFLite 2.9 does not give a graph with dynamic-sized tensors to XNNPACK and fails
// TfLiteInterpreterCreate without a message; runtime says what most likely happened.
func TestDelegateRefusesDynamicTensors(t *testing.T) {
	noLeaks(t)
	m, err := tflite.NewModel(dynamicReshapeModel(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = tflite.NewInterpreter(m, tflite.Options{})
	wantErr(t, err, "TFLite did not apply the xnnpack delegate", "dynamic-sized tensors")
}
