package hf

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The PyTorch fixtures were written by torch.save (Debian's python3-torch 1.13) through
// ../scripts/make_pytorch_fixtures.py; testdata/README.md says what each holds.
const pytorchData = "testdata/pytorch"

// sameTensors checks that got holds every tensor of want with the same dtype, shape and bytes.
func sameTensors(t *testing.T, got, want *Safetensors) {
	t.Helper()
	for _, name := range want.Names() {
		w, _ := want.Info(name)
		g, err := got.Info(name)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if g.DType != w.DType || !reflect.DeepEqual(g.Shape, w.Shape) {
			t.Errorf("%s: %s %v, want %s %v", name, g.DType, g.Shape, w.DType, w.Shape)
			continue
		}
		gb, err := got.Raw(name)
		if err != nil {
			t.Fatal(err)
		}
		wb, _ := want.Raw(name)
		if !bytes.Equal(gb, wb) {
			t.Errorf("%s: bytes %x, want %x", name, gb, wb)
		}
	}
}

// A pytorch_model.bin holds the same tensors as the safetensors file it was made from, every
// dtype, byte for byte; views into a shared storage (with an offset) read as their elements.
func TestPyTorchFile(t *testing.T) {
	want, err := OpenSafetensors(filepath.Join("testdata", "dtypes.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	got, err := OpenPyTorch(filepath.Join(pytorchData, "dtypes.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	sameTensors(t, got, want)
	if n := len(got.Names()); n != len(want.Names())+2 {
		t.Errorf("%d tensors, want %d", n, len(want.Names())+2)
	}
	// base = arange(10) * 0.5 - 2; view_offset = base[4:].view(2, 3); shared_a = base.view(2, 5).
	for _, c := range []struct {
		name  string
		shape []int
		want  []float32
	}{
		{"view_offset", []int{2, 3}, []float32{0, 0.5, 1, 1.5, 2, 2.5}},
		{"shared_a", []int{2, 5}, []float32{-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5}},
	} {
		v, err := got.Float32(c.name, c.shape...)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(v, c.want) {
			t.Errorf("%s = %v, want %v", c.name, v, c.want)
		}
	}
}

// A sharded PyTorch checkpoint opens through its index, from the folder like any other.
func TestPyTorchSharded(t *testing.T) {
	want, err := OpenSafetensors(filepath.Join("testdata", "dtypes.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	dir := filepath.Join(pytorchData, "sharded")
	got, err := OpenWeights(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if got.Path() != filepath.Join(dir, "pytorch_model.bin.index.json") {
		t.Errorf("opened %s", got.Path())
	}
	sameTensors(t, got, want)
	if len(got.Names()) != len(want.Names()) {
		t.Errorf("%d tensors, want %d", len(got.Names()), len(want.Names()))
	}
	shards, err := IndexShards(filepath.Join(dir, "pytorch_model.bin.index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"}; !reflect.DeepEqual(shards, want) {
		t.Errorf("IndexShards = %v, want %v", shards, want)
	}
}

// OpenWeights takes safetensors when a folder has them, pytorch_model.bin otherwise; Hash
// counts the .bin only when it is the folder's weights.
func TestOpenWeightsFormats(t *testing.T) {
	dir := t.TempDir()
	bin, _ := os.ReadFile(filepath.Join(pytorchData, "dtypes.bin"))
	st, _ := os.ReadFile(filepath.Join("testdata", "dtypes.safetensors"))
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"architectures": ["CLIPModel"]}`), 0o644)
	os.WriteFile(filepath.Join(dir, "pytorch_model.bin"), bin, 0o644)
	w, err := OpenWeights(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(w.Path(), "pytorch_model.bin") {
		t.Errorf("only a .bin: opened %s", w.Path())
	}
	w.Close()
	binHash, err := Hash(dir)
	if err != nil {
		t.Fatal(err)
	}

	os.WriteFile(filepath.Join(dir, "model.safetensors"), st, 0o644)
	w, err = OpenWeights(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(w.Path(), "model.safetensors") {
		t.Errorf("both: opened %s", w.Path())
	}
	w.Close()
	both, _ := Hash(dir)
	os.Remove(filepath.Join(dir, "pytorch_model.bin"))
	safetensorsOnly, _ := Hash(dir)
	if both != safetensorsOnly {
		t.Error("a pytorch_model.bin beside model.safetensors changed the hash")
	}
	if binHash == safetensorsOnly {
		t.Error("the .bin and the safetensors folder hash alike")
	}
	os.Remove(filepath.Join(dir, "model.safetensors"))
	bin[len(bin)-100] ^= 1 // inside the zip's central directory or a tensor: either way different
	os.WriteFile(filepath.Join(dir, "pytorch_model.bin"), bin, 0o644)
	if h, _ := Hash(dir); h == binHash {
		t.Error("changing a .bin byte did not change the hash")
	}
}

// A folder of symbolic links (a Hugging Face cache snapshot) hashes and opens like the files.
func TestHashFollowsSymlinks(t *testing.T) {
	files, links := t.TempDir(), t.TempDir()
	for _, name := range []string{"pytorch_model.bin", "config.json"} {
		src := filepath.Join(pytorchData, "dtypes.bin")
		if name == "config.json" {
			src = filepath.Join("testdata", "shapes_clip_config.json")
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(files, name), data, 0o644)
		if err := os.Symlink(filepath.Join(files, name), filepath.Join(links, name)); err != nil {
			t.Fatal(err)
		}
	}
	a, err := Hash(files)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Hash(links)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("a folder of symlinks hashes differently from the files")
	}
	w, err := OpenWeights(links)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
}

// torchZip writes a torch-style zip archive: archive/data.pkl and the given storage entries
// (stored, unless compressed names them).
func torchZip(t *testing.T, pkl []byte, storages map[string][]byte, compressed ...string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	write := func(name string, data []byte, method uint16) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	write("archive/data.pkl", pkl, zip.Store)
	for key, data := range storages {
		method := zip.Store
		for _, c := range compressed {
			if c == key {
				method = zip.Deflate
			}
		}
		write("archive/data/"+key, data, method)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pytorch_model.bin")
	os.WriteFile(path, buf.Bytes(), 0o644)
	return path
}

// pk assembles a pickle from opcodes and their arguments.
func pk(parts ...any) []byte {
	var b bytes.Buffer
	for _, p := range parts {
		switch p := p.(type) {
		case byte:
			b.WriteByte(p)
		case int: // an opcode or a one-byte argument
			b.WriteByte(byte(p))
		case rune: // an opcode spelled as a character
			b.WriteByte(byte(p))
		case string: // BINUNICODE
			b.WriteByte(opBinUnicode)
			binary.Write(&b, binary.LittleEndian, uint32(len(p)))
			b.WriteString(p)
		case []byte: // raw bytes
			b.Write(p)
		}
	}
	return b.Bytes()
}

func global(module, name string) []byte { return []byte("c" + module + "\n" + name + "\n") }

// tensorPickle is the state dict {"w": tensor of shape (2,) at offset off in a FloatStorage of
// numel elements stored as key "0"}, as torch.save writes it.
func tensorPickle(off, numel int) []byte {
	return pk(opProto, 2, global("collections", "OrderedDict"), opEmptyTuple, opReduce,
		"w", global("torch._utils", "_rebuild_tensor_v2"), opMark,
		opMark, "storage", global("torch", "FloatStorage"), "0", "cpu", opBinInt1, numel, opTuple, opBinPersID,
		opBinInt1, off, opBinInt1, 2, opTuple1, opBinInt1, 1, opTuple1, opNewFalse,
		global("collections", "OrderedDict"), opEmptyTuple, opReduce, opTuple, opReduce,
		opSetItem, opStop)
}

// A pickle that would run code, or that is anything but a state dict of tensors in bounds,
// is refused with an error that names the problem; nothing of it runs.
func TestPyTorchRefused(t *testing.T) {
	eight := make([]byte, 8)
	systemCall := pk(opProto, 2, global("collections", "OrderedDict"), opEmptyTuple, opReduce,
		"w", global("os", "system"), "echo pwned", opTuple1, opReduce, opSetItem, opStop)
	cases := []struct {
		name, path, want string
	}{
		{"torch.save of os.system", filepath.Join(pytorchData, "evil_system.bin"), "global posix.system is not allowed"},
		{"GLOBAL os system, REDUCE", torchZip(t, systemCall, nil), "global os.system is not allowed"},
		{"STACK_GLOBAL builtins eval", torchZip(t, pk(opProto, 4, "builtins", "eval", opStackGlobal, "1+1", opTuple1, opReduce, opStop), nil), "global builtins.eval is not allowed"},
		{"INST", torchZip(t, pk(opProto, 2, opMark, []byte("ios\nsystem\n"), opStop), nil), "opcode 0x69"},
		{"NEWOBJ", torchZip(t, pk(opProto, 2, global("collections", "OrderedDict"), opEmptyTuple, 0x81, opStop), nil), "opcode 0x81"},
		{"REDUCE of a storage type", torchZip(t, pk(opProto, 2, global("torch", "FloatStorage"), opEmptyTuple, opReduce, opStop), nil), "torch.FloatStorage is not callable"},
		{"string longer than the file", torchZip(t, pk(opProto, 2, opBinUnicode, []byte{0xff, 0xff, 0xff, 0x7f}, opStop), nil), "runs past the end"},
		{"truncated", torchZip(t, pk(opProto, 2, opEmptyDict), nil), "pickle ends early"},
		{"not a dict", torchZip(t, pk(opProto, 2, opEmptyList, opStop), nil), "holds a list, not a state dict"},
		{"not a tensor", torchZip(t, pk(opProto, 2, opEmptyDict, "w", opBinInt1, 1, opSetItem, opStop), nil), `entry "w" is a int, not a tensor`},
		{"missing storage", torchZip(t, tensorPickle(0, 2), nil), `storage "0": no archive/data/0`},
		{"compressed storage", torchZip(t, tensorPickle(0, 2), map[string][]byte{"0": eight}, "0"), "is compressed"},
		{"storage smaller than said", torchZip(t, tensorPickle(0, 4), map[string][]byte{"0": eight}), "do not fit the 8 bytes"},
		{"tensor past its storage", torchZip(t, tensorPickle(1, 2), map[string][]byte{"0": eight}), "outside its storage"},
		{"non-contiguous", filepath.Join(pytorchData, "noncontiguous.bin"), "not contiguous"},
		{"legacy format", filepath.Join(pytorchData, "legacy.bin"), "before PyTorch 1.6"},
		{"not a zip", filepath.Join("testdata", "dtypes.safetensors"), "not a PyTorch checkpoint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := OpenPyTorch(c.path)
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
				t.Errorf("error %q does not name %q and the file", err, c.want)
			}
		})
	}
	// The hand-made tensor pickle is right when its storage is: the cases above fail for
	// the reason they name.
	s, err := OpenPyTorch(torchZip(t, tensorPickle(0, 2), map[string][]byte{"0": {0, 0, 0x80, 0x3f, 0, 0, 0, 0x40}}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Float32("w", 2); err != nil || !reflect.DeepEqual(v, []float32{1, 2}) {
		t.Errorf("w = %v, %v; want [1 2]", v, err)
	}
}

// BenchmarkOpenAndRead opens the shapes CLIP's weights and reads every tensor as float32:
// from its safetensors file and from the same weights re-saved by torch.save (the pickle
// parse is the difference).
func BenchmarkOpenAndRead(b *testing.B) {
	for _, c := range []struct{ name, path string }{
		{"safetensors", "../models/shapes/clip/model.safetensors"},
		{"pytorch", "../clip/testdata/shapes_pytorch/pytorch_model.bin"},
	} {
		b.Run(c.name, func(b *testing.B) {
			fi, err := os.Stat(c.path)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(fi.Size())
			for b.Loop() {
				open := OpenSafetensors
				if strings.HasSuffix(c.path, ".bin") {
					open = OpenPyTorch
				}
				s, err := open(c.path)
				if err != nil {
					b.Fatal(err)
				}
				for _, name := range s.Names() {
					if info, _ := s.Info(name); info.DType.IsFloat() {
						if _, err := s.Float32(name); err != nil {
							b.Fatal(err)
						}
					}
				}
				s.Close()
			}
		})
	}
}
