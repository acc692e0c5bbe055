package hf

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// PyTorch checkpoints (pytorch_model.bin) as torch.save has written them since PyTorch 1.6: a
// zip archive holding data.pkl, the pickled state dict, and data/<key>, one uncompressed entry
// per storage. The pickle is read by the restricted reader of pickle.go; each tensor becomes a
// TensorInfo pointing into its storage's entry, so the data is streamed from the archive on
// request exactly as a safetensors file's is.

// torchStorageTypes maps torch's typed storage classes to the element types they hold.
var torchStorageTypes = map[string]DType{
	"FloatStorage": F32, "DoubleStorage": F64, "HalfStorage": F16, "BFloat16Storage": BF16,
	"LongStorage": I64, "IntStorage": I32, "ShortStorage": I16, "CharStorage": I8,
	"ByteStorage": U8, "BoolStorage": BOOL,
}

// torchStorage is one storage of the archive: numel elements of dtype at offset in the file.
type torchStorage struct {
	key    string
	dtype  DType
	offset int64
	numel  int64
}

// torchTensor is a view of a storage, as _rebuild_tensor_v2 describes it.
type torchTensor struct {
	storage       *torchStorage
	offset        int64
	shape, stride []int64
}

// OpenPyTorch opens a PyTorch checkpoint: a pytorch_model.bin, or a sharded set through its
// pytorch_model.bin.index.json. Only the pickled state dicts are read when it is opened; no
// code in them runs, and a pickle that names anything but tensors and their storages is
// refused.
func OpenPyTorch(path string) (*Safetensors, error) {
	if strings.HasSuffix(path, ".json") {
		return openIndex(path)
	}
	s := &Safetensors{path: path, tensors: map[string]TensorInfo{}}
	tensors, err := s.openPyTorchFile(path)
	if err != nil {
		s.Close()
		return nil, err
	}
	for _, t := range tensors {
		s.tensors[t.Name] = t
	}
	s.sortNames()
	return s, nil
}

// openPyTorchFile opens one torch zip archive, keeps it in s.files and returns its tensors.
func (s *Safetensors) openPyTorchFile(path string) ([]TensorInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hf: open %s: %w", path, err)
	}
	s.files = append(s.files, f)
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("hf: stat %s: %w", path, err)
	}
	var magic [4]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil || string(magic[:]) != "PK\x03\x04" {
		if magic[0] == opProto {
			return nil, fmt.Errorf("hf: %s: a PyTorch checkpoint in the format before PyTorch 1.6 (a bare pickle, not a zip archive), which edged does not read: re-save it with a newer torch.save or as safetensors", path)
		}
		return nil, fmt.Errorf("hf: %s: not a PyTorch checkpoint (no zip archive)", path)
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("hf: %s: corrupt zip archive: %w", path, err)
	}
	entries := map[string]*zip.File{}
	prefix := ""
	for _, e := range zr.File {
		entries[e.Name] = e
		if dir, ok := strings.CutSuffix(e.Name, "/data.pkl"); ok && !strings.Contains(dir, "/") {
			if prefix != "" {
				return nil, fmt.Errorf("hf: %s: two data.pkl in the archive", path)
			}
			prefix = dir + "/"
		}
	}
	if prefix == "" {
		return nil, fmt.Errorf("hf: %s: not a PyTorch checkpoint (no <name>/data.pkl in the zip archive)", path)
	}
	if e := entries[prefix+"byteorder"]; e != nil {
		order, err := readEntry(e, 16)
		if err != nil {
			return nil, fmt.Errorf("hf: %s: %w", path, err)
		}
		if string(order) != "little" {
			return nil, fmt.Errorf("hf: %s: tensors stored %q-endian; only little-endian is read", path, order)
		}
	}
	pkl, err := readEntry(entries[prefix+"data.pkl"], maxHeaderSize)
	if err != nil {
		return nil, fmt.Errorf("hf: %s: %w", path, err)
	}
	storages := map[string]*torchStorage{}
	plan := picklePlan{
		call: callTorch,
		persistentLoad: func(pid any) (any, error) {
			return loadStorage(pid, storages, entries, prefix)
		},
	}
	v, err := unpickle(pkl, plan)
	if err != nil {
		return nil, fmt.Errorf("hf: %s: %sdata.pkl: %w", path, prefix, err)
	}
	dict, ok := v.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("hf: %s: the pickle holds a %s, not a state dict", path, typeName(v))
	}
	tensors := make([]TensorInfo, 0, len(dict.keys))
	for i, k := range dict.keys {
		name, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("hf: %s: state dict key %v is a %s, not a tensor name", path, k, typeName(k))
		}
		t, ok := dict.vals[i].(*torchTensor)
		if !ok {
			return nil, fmt.Errorf("hf: %s: state dict entry %q is a %s, not a tensor", path, name, typeName(dict.vals[i]))
		}
		info, err := t.info(name)
		if err != nil {
			return nil, fmt.Errorf("hf: %s: tensor %q: %w", path, name, err)
		}
		info.Path, info.file = path, f
		tensors = append(tensors, info)
	}
	return tensors, nil
}

// readEntry reads a small archive entry whole, refusing one larger than limit.
func readEntry(e *zip.File, limit int64) ([]byte, error) {
	if e.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%s: %d bytes is more than the %d allowed", e.Name, e.UncompressedSize64, limit)
	}
	r, err := e.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Name, err)
	}
	defer r.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(r, limit+1)); err != nil {
		return nil, fmt.Errorf("%s: %w", e.Name, err)
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("%s: more than the %d bytes allowed", e.Name, limit)
	}
	return buf.Bytes(), nil
}

// loadStorage resolves a persistent id, ('storage', torch.<Type>Storage, key, location,
// numel), to the archive entry data/<key>, which must be stored uncompressed so that its
// bytes can be read in place.
func loadStorage(pid any, storages map[string]*torchStorage, entries map[string]*zip.File, prefix string) (any, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) != 5 || t[0] != "storage" {
		return nil, fmt.Errorf("persistent id %v is not ('storage', type, key, location, size)", pid)
	}
	typ, ok1 := t[1].(pyGlobal)
	key, ok2 := t[2].(string)
	numel, ok3 := t[4].(int64)
	if !ok1 || !ok2 || !ok3 || numel < 0 {
		return nil, fmt.Errorf("persistent id %v is not ('storage', type, key, location, size)", pid)
	}
	dtype, ok := torchStorageTypes[typ.name]
	if typ.module != "torch" || !ok {
		return nil, fmt.Errorf("storage type %s is not one edged reads", typ)
	}
	if s, ok := storages[key]; ok {
		if s.dtype != dtype || s.numel != numel {
			return nil, fmt.Errorf("storage %q is described twice, differently", key)
		}
		return s, nil
	}
	name := prefix + "data/" + key
	e := entries[name]
	if e == nil {
		return nil, fmt.Errorf("storage %q: no %s in the archive", key, name)
	}
	if e.Method != zip.Store {
		return nil, fmt.Errorf("storage %q: %s is compressed; torch.save stores tensors uncompressed", key, name)
	}
	size := int64(dtype.Size())
	if numel > math.MaxInt64/size || uint64(numel*size) > e.UncompressedSize64 {
		return nil, fmt.Errorf("storage %q: %d elements of %s do not fit the %d bytes of %s", key, numel, dtype, e.UncompressedSize64, name)
	}
	off, err := e.DataOffset()
	if err != nil {
		return nil, fmt.Errorf("storage %q: %w", key, err)
	}
	s := &torchStorage{key: key, dtype: dtype, offset: off, numel: numel}
	storages[key] = s
	return s, nil
}

// callTorch is what REDUCE does with each allowed global.
func callTorch(fn pyGlobal, args pyTuple) (any, error) {
	switch fn.String() {
	case "collections.OrderedDict":
		if len(args) != 0 {
			return nil, fmt.Errorf("collections.OrderedDict with %d arguments, want none", len(args))
		}
		return &pyDict{}, nil
	case "torch._utils._rebuild_tensor_v2":
		// (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
		if len(args) != 6 && len(args) != 7 {
			return nil, fmt.Errorf("%s with %d arguments, want 6 or 7", fn, len(args))
		}
		storage, ok1 := args[0].(*torchStorage)
		offset, ok2 := args[1].(int64)
		shape, ok3 := intTuple(args[2])
		stride, ok4 := intTuple(args[3])
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return nil, fmt.Errorf("%s%v: want (storage, offset, size, stride, ...)", fn, args[1:4])
		}
		return &torchTensor{storage: storage, offset: offset, shape: shape, stride: stride}, nil
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		// An nn.Parameter saved as such: (data, requires_grad, backward_hooks[, state]).
		if len(args) < 3 {
			return nil, fmt.Errorf("%s with %d arguments", fn, len(args))
		}
		t, ok := args[0].(*torchTensor)
		if !ok {
			return nil, fmt.Errorf("%s of a %s, not a tensor", fn, typeName(args[0]))
		}
		return t, nil
	}
	return nil, fmt.Errorf("%s is not callable in a state dict", fn)
}

func intTuple(v any) ([]int64, bool) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, false
	}
	out := make([]int64, len(t))
	for i, x := range t {
		if out[i], ok = x.(int64); !ok {
			return nil, false
		}
	}
	return out, true
}

// info checks that the tensor is a contiguous, in-bounds view of its storage and says where
// its bytes are.
func (t *torchTensor) info(name string) (TensorInfo, error) {
	if len(t.shape) != len(t.stride) {
		return TensorInfo{}, fmt.Errorf("shape %v and stride %v differ in rank", t.shape, t.stride)
	}
	numel := int64(1)
	shape := make([]int, len(t.shape))
	for i, d := range t.shape {
		if d < 0 || d > 0 && numel > math.MaxInt64/8/d {
			return TensorInfo{}, fmt.Errorf("bad shape %v", t.shape)
		}
		numel *= d
		shape[i] = int(d)
	}
	want := int64(1)
	for i := len(t.shape) - 1; i >= 0; i-- {
		if t.shape[i] != 1 && t.stride[i] != want && numel > 0 {
			return TensorInfo{}, fmt.Errorf("not contiguous (shape %v, stride %v): it was saved as a view; re-save the checkpoint with contiguous tensors", t.shape, t.stride)
		}
		want *= t.shape[i]
	}
	if t.offset < 0 || t.offset > t.storage.numel || numel > t.storage.numel-t.offset {
		return TensorInfo{}, fmt.Errorf("elements [%d, %d) outside its storage %q of %d", t.offset, t.offset+numel, t.storage.key, t.storage.numel)
	}
	size := int64(t.storage.dtype.Size())
	return TensorInfo{
		Name: name, DType: t.storage.dtype, Shape: shape,
		Offset: t.storage.offset + t.offset*size, Size: numel * size,
	}, nil
}
