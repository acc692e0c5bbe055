package hf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// maxHeaderSize bounds the JSON header, as the safetensors specification does (100 MB), so a
// corrupt length cannot make the reader allocate gigabytes.
const maxHeaderSize = 100 << 20

// TensorInfo describes one stored tensor: where its bytes are and what they mean.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int
	Path  string // the file holding the data
	// Offset is the position of the first data byte in the file (header included) and
	// Size the number of data bytes.
	Offset, Size int64

	file *os.File
}

// Len is the number of elements (1 for a scalar of shape []).
func (t TensorInfo) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Reader streams the tensor's raw little-endian bytes from disk (for a TensorInfo from Info
// or Expect, while the Safetensors is open).
func (t TensorInfo) Reader() *io.SectionReader {
	return io.NewSectionReader(t.file, t.Offset, t.Size)
}

// Safetensors is an open set of tensors: one .safetensors file, or the shards named by a
// model.safetensors.index.json; or, opened by OpenPyTorch, a PyTorch checkpoint whose tensors
// lie uncompressed in its zip archive, read the same way. Only headers (and a PyTorch file's
// pickled state dict) are read when it is opened.
type Safetensors struct {
	path     string // the file or index opened, for errors
	files    []*os.File
	tensors  map[string]TensorInfo
	names    []string
	metadata map[string]string
}

// weightFiles are the names a checkpoint's weights go by, in the order OpenWeights prefers
// them: safetensors, else PyTorch's pickle format; each as one file or as shards named by an
// index. The TF, Flax and ONNX copies some repositories carry are never read.
var weightFiles = []string{"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json"}

// PickWeights names the file OpenWeights opens among a checkpoint's files (one of
// model.safetensors, model.safetensors.index.json, pytorch_model.bin,
// pytorch_model.bin.index.json, in that order of preference), or "" when there is none. has
// says whether a file is there: in a folder, or in a repository's file list.
func PickWeights(has func(name string) bool) string {
	for _, name := range weightFiles {
		if has(name) {
			return name
		}
	}
	return ""
}

// OpenWeights opens the weights of the checkpoint folder dir, the file PickWeights names:
// safetensors when there are any, else pytorch_model.bin; sharded through an index when there
// is no single file.
func OpenWeights(dir string) (*Safetensors, error) {
	name := PickWeights(func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	})
	path := filepath.Join(dir, name)
	switch {
	case name == "":
		return nil, fmt.Errorf("hf: no model.safetensors, pytorch_model.bin or their sharded .index.json in %s: %w", dir, os.ErrNotExist)
	case strings.HasPrefix(name, "pytorch_model."):
		return OpenPyTorch(path)
	default:
		return OpenSafetensors(path)
	}
}

// OpenSafetensors opens a .safetensors file, or a sharded set through its .index.json.
func OpenSafetensors(path string) (*Safetensors, error) {
	if strings.HasSuffix(path, ".json") {
		return openIndex(path)
	}
	s := &Safetensors{path: path, tensors: map[string]TensorInfo{}}
	tensors, meta, err := s.openFile(path)
	if err != nil {
		s.Close()
		return nil, err
	}
	for _, t := range tensors {
		s.tensors[t.Name] = t
	}
	s.metadata = meta
	s.sortNames()
	return s, nil
}

// index is a sharded checkpoint's model.safetensors.index.json or
// pytorch_model.bin.index.json.
type index struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// readIndex parses an index and checks that every shard is a plain file name beside it.
func readIndex(path string) (*index, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hf: read %s: %w", path, err)
	}
	var idx index
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // total_size stays "1234567890", not "1.23456789e+09"
	if err := dec.Decode(&idx); err != nil {
		return nil, fmt.Errorf("hf: %s: bad index JSON: %w", path, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("hf: %s: empty or missing weight_map", path)
	}
	for name, shard := range idx.WeightMap {
		if shard == "" || shard != filepath.Base(shard) || shard == "." || shard == ".." {
			return nil, fmt.Errorf("hf: %s: tensor %q: shard %q is not a file name in the index's folder", path, name, shard)
		}
	}
	return &idx, nil
}

// IndexShards lists, sorted, the shard files a sharded checkpoint's index names.
func IndexShards(path string) ([]string, error) {
	idx, err := readIndex(path)
	if err != nil {
		return nil, err
	}
	var shards []string
	for _, shard := range idx.WeightMap {
		shards = append(shards, shard)
	}
	sort.Strings(shards)
	return slices.Compact(shards), nil
}

// openIndex opens every shard named by an index (of safetensors or of PyTorch files). The
// index's weight_map is the authority: each listed tensor must be in the shard it names, and
// a tensor a shard holds but the index does not list is not part of the checkpoint.
func openIndex(path string) (*Safetensors, error) {
	idx, err := readIndex(path)
	if err != nil {
		return nil, err
	}
	s := &Safetensors{path: path, tensors: map[string]TensorInfo{}, metadata: map[string]string{}}
	shards := map[string]map[string]TensorInfo{}
	for name, shard := range idx.WeightMap {
		held, ok := shards[shard]
		if !ok {
			tensors, err := s.openShard(filepath.Join(filepath.Dir(path), shard))
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("hf: %s: shard: %w", path, err)
			}
			held = map[string]TensorInfo{}
			for _, t := range tensors {
				held[t.Name] = t
			}
			shards[shard] = held
		}
		t, ok := held[name]
		if !ok {
			s.Close()
			return nil, fmt.Errorf("hf: %s: tensor %q not in its shard %s", path, name, shard)
		}
		s.tensors[name] = t
	}
	for k, v := range idx.Metadata {
		s.metadata[k] = fmt.Sprint(v)
	}
	s.sortNames()
	return s, nil
}

// openShard opens one shard by its kind: a PyTorch .bin or a .safetensors file.
func (s *Safetensors) openShard(path string) ([]TensorInfo, error) {
	if strings.HasSuffix(path, ".bin") {
		return s.openPyTorchFile(path)
	}
	tensors, _, err := s.openFile(path)
	return tensors, err
}

func (s *Safetensors) sortNames() {
	s.names = make([]string, 0, len(s.tensors))
	for name := range s.tensors {
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
}

// headerEntry is one tensor's record in the JSON header.
type headerEntry struct {
	DType       DType   `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// openFile opens one .safetensors file, keeps it in s.files and checks its header: the
// length prefix, the JSON, every dtype and shape, and that every tensor's bytes lie inside
// the file without overlapping another's.
func (s *Safetensors) openFile(path string) ([]TensorInfo, map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("hf: open %s: %w", path, err)
	}
	s.files = append(s.files, f)
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("hf: stat %s: %w", path, err)
	}
	size := st.Size()
	if size < 8 {
		return nil, nil, fmt.Errorf("hf: %s: %d bytes is too short for a safetensors file (the 8-byte header length is missing)", path, size)
	}
	var prefix [8]byte
	if _, err := f.ReadAt(prefix[:], 0); err != nil {
		return nil, nil, fmt.Errorf("hf: read %s: %w", path, err)
	}
	n := uint64(prefix[0]) | uint64(prefix[1])<<8 | uint64(prefix[2])<<16 | uint64(prefix[3])<<24 |
		uint64(prefix[4])<<32 | uint64(prefix[5])<<40 | uint64(prefix[6])<<48 | uint64(prefix[7])<<56
	if n > maxHeaderSize || n > uint64(size-8) {
		return nil, nil, fmt.Errorf("hf: %s: corrupt header: length %d does not fit a %d-byte file (limit %d)", path, n, size, maxHeaderSize)
	}
	header := make([]byte, n)
	if _, err := f.ReadAt(header, 8); err != nil {
		return nil, nil, fmt.Errorf("hf: read %s header: %w", path, err)
	}
	if !bytes.HasPrefix(header, []byte("{")) {
		return nil, nil, fmt.Errorf("hf: %s: corrupt header: not a JSON object", path)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(header, &raw); err != nil {
		return nil, nil, fmt.Errorf("hf: %s: corrupt header JSON: %w", path, err)
	}
	dataStart := int64(8 + n)
	dataSize := size - dataStart
	var meta map[string]string
	tensors := make([]TensorInfo, 0, len(raw))
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &meta); err != nil {
				return nil, nil, fmt.Errorf("hf: %s: corrupt header: __metadata__ is not a map of strings: %w", path, err)
			}
			continue
		}
		t, err := checkEntry(name, msg, dataSize)
		if err != nil {
			return nil, nil, fmt.Errorf("hf: %s: corrupt header: tensor %q: %w", path, name, err)
		}
		t.Path, t.file = path, f
		t.Offset += dataStart
		tensors = append(tensors, t)
	}
	// Overlapping tensors mean a corrupt header; sorted by offset (an empty tensor before a
	// full one at the same offset), each must end before the next starts.
	sort.Slice(tensors, func(i, j int) bool {
		a, b := tensors[i], tensors[j]
		return a.Offset < b.Offset || a.Offset == b.Offset && a.Size < b.Size
	})
	for i := 1; i < len(tensors); i++ {
		a, b := tensors[i-1], tensors[i]
		if a.Offset+a.Size > b.Offset {
			return nil, nil, fmt.Errorf("hf: %s: corrupt header: tensors %q and %q overlap", path, a.Name, b.Name)
		}
	}
	return tensors, meta, nil
}

// checkEntry parses and validates one header record against the data section's size. The
// returned Offset is relative to the data section.
func checkEntry(name string, msg json.RawMessage, dataSize int64) (TensorInfo, error) {
	var e headerEntry
	if err := json.Unmarshal(msg, &e); err != nil {
		return TensorInfo{}, fmt.Errorf("bad record: %w", err)
	}
	if !e.DType.Valid() {
		return TensorInfo{}, fmt.Errorf("unknown dtype %q", e.DType)
	}
	if e.Shape == nil {
		return TensorInfo{}, errors.New("no shape")
	}
	if len(e.DataOffsets) != 2 {
		return TensorInfo{}, fmt.Errorf("data_offsets has %d values, want 2", len(e.DataOffsets))
	}
	count := int64(1)
	shape := make([]int, len(e.Shape))
	for i, d := range e.Shape {
		if d < 0 {
			return TensorInfo{}, fmt.Errorf("negative dimension in shape %v", e.Shape)
		}
		if d > 0 && count > math.MaxInt64/8/d {
			return TensorInfo{}, fmt.Errorf("shape %v is too large", e.Shape)
		}
		count *= d
		shape[i] = int(d)
	}
	begin, end := e.DataOffsets[0], e.DataOffsets[1]
	if begin < 0 || end < begin || end > dataSize {
		return TensorInfo{}, fmt.Errorf("data_offsets [%d, %d] outside the %d data bytes of the file", begin, end, dataSize)
	}
	if want := count * int64(e.DType.Size()); end-begin != want {
		return TensorInfo{}, fmt.Errorf("data_offsets [%d, %d] hold %d bytes, but %s %v needs %d", begin, end, end-begin, e.DType, e.Shape, want)
	}
	return TensorInfo{Name: name, DType: e.DType, Shape: shape, Offset: begin, Size: end - begin}, nil
}

// Close closes the files. Readers obtained earlier stop working.
func (s *Safetensors) Close() error {
	var first error
	for _, f := range s.files {
		if err := f.Close(); err != nil && first == nil {
			first = fmt.Errorf("hf: close %s: %w", f.Name(), err)
		}
	}
	s.files = nil
	return first
}

// Path is the file (or index) that was opened.
func (s *Safetensors) Path() string { return s.path }

// Names lists the tensors in lexical order.
func (s *Safetensors) Names() []string { return append([]string(nil), s.names...) }

// Metadata is the header's __metadata__ (for an index, its "metadata" with values as text).
func (s *Safetensors) Metadata() map[string]string {
	m := make(map[string]string, len(s.metadata))
	for k, v := range s.metadata {
		m[k] = v
	}
	return m
}

// Has reports whether the tensor is stored.
func (s *Safetensors) Has(name string) bool {
	_, ok := s.tensors[name]
	return ok
}

// Info describes a tensor, or says it is missing.
func (s *Safetensors) Info(name string) (TensorInfo, error) {
	t, ok := s.tensors[name]
	if !ok {
		return TensorInfo{}, fmt.Errorf("hf: tensor %q not in %s", name, s.path)
	}
	return t, nil
}

// Expect describes a tensor after checking its shape; -1 in shape matches any size.
func (s *Safetensors) Expect(name string, shape ...int) (TensorInfo, error) {
	t, err := s.Info(name)
	if err != nil {
		return TensorInfo{}, err
	}
	if !shapeMatches(t.Shape, shape) {
		return TensorInfo{}, fmt.Errorf("hf: tensor %q in %s has shape %v, want %v", name, t.Path, t.Shape, shape)
	}
	return t, nil
}

func shapeMatches(have, want []int) bool {
	if len(have) != len(want) {
		return false
	}
	for i := range have {
		if want[i] != -1 && want[i] != have[i] {
			return false
		}
	}
	return true
}

// info is Info, or Expect when a shape is given.
func (s *Safetensors) info(name string, shape []int) (TensorInfo, error) {
	if len(shape) == 0 {
		return s.Info(name)
	}
	return s.Expect(name, shape...)
}

// Raw reads a tensor's bytes as stored (little-endian, row-major).
func (s *Safetensors) Raw(name string) ([]byte, error) {
	t, err := s.Info(name)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, t.Size)
	if _, err := t.file.ReadAt(buf, t.Offset); err != nil {
		return nil, fmt.Errorf("hf: read tensor %q from %s: %w", name, t.Path, err)
	}
	return buf, nil
}

// Float32 reads a float tensor (F32, F16, BF16 or F64) as float32. When shape is given the
// tensor must have it (-1 matches any size), as with Expect.
func (s *Safetensors) Float32(name string, shape ...int) ([]float32, error) {
	t, err := s.info(name, shape)
	if err != nil {
		return nil, err
	}
	out := make([]float32, t.Len())
	return out, s.ReadFloat32(name, out)
}

// ReadFloat32 reads a float tensor into dst, which must have exactly its number of
// elements; large tensors are converted in chunks, without a second full-size buffer.
func (s *Safetensors) ReadFloat32(name string, dst []float32) error {
	t, err := s.Info(name)
	if err != nil {
		return err
	}
	if !t.DType.IsFloat() {
		return fmt.Errorf("hf: tensor %q in %s is %s, not a float type", name, t.Path, t.DType)
	}
	if len(dst) != t.Len() {
		return fmt.Errorf("hf: tensor %q in %s has %d elements, destination has %d", name, t.Path, t.Len(), len(dst))
	}
	return readChunks(t, len(dst), func(src []byte, from, to int) error {
		return decodeFloat32(t.DType, src, dst[from:to])
	})
}

// Int64 reads an integer tensor (I64, I32, I16, I8, U32, U16, U8 or BOOL) as int64, for id
// and mask tensors. When shape is given the tensor must have it, as with Expect.
func (s *Safetensors) Int64(name string, shape ...int) ([]int64, error) {
	t, err := s.info(name, shape)
	if err != nil {
		return nil, err
	}
	if !t.DType.IsInt() {
		return nil, fmt.Errorf("hf: tensor %q in %s is %s, not an integer type", name, t.Path, t.DType)
	}
	out := make([]int64, t.Len())
	err = readChunks(t, len(out), func(src []byte, from, to int) error {
		return decodeInt64(t.DType, src, out[from:to])
	})
	return out, err
}

// chunkBytes is how much raw data a conversion reads at a time.
const chunkBytes = 1 << 20

// readChunks reads t's n elements in chunks and hands each to convert with its element range.
func readChunks(t TensorInfo, n int, convert func(src []byte, from, to int) error) error {
	size := t.DType.Size()
	per := max(chunkBytes/size, 1)
	buf := make([]byte, min(n, per)*size)
	for from := 0; from < n; from += per {
		to := min(from+per, n)
		src := buf[:(to-from)*size]
		if _, err := t.file.ReadAt(src, t.Offset+int64(from*size)); err != nil {
			return fmt.Errorf("hf: read tensor %q from %s: %w", t.Name, t.Path, err)
		}
		if err := convert(src, from, to); err != nil {
			return fmt.Errorf("hf: tensor %q in %s: %w", t.Name, t.Path, err)
		}
	}
	return nil
}
