package hf

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/x448/float16"
)

// Tensor is a tensor held in memory, as WriteSafetensors writes it.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte // little-endian, row-major
}

// F32Tensor makes an F32 tensor of values.
func F32Tensor(name string, shape []int, values []float32) Tensor {
	b := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return Tensor{Name: name, DType: F32, Shape: shape, Data: b}
}

// F16Tensor makes an F16 tensor of values, rounded to nearest even.
func F16Tensor(name string, shape []int, values []float32) Tensor {
	b := make([]byte, 2*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint16(b[2*i:], float16.Fromfloat32(v).Bits())
	}
	return Tensor{Name: name, DType: F16, Shape: shape, Data: b}
}

// BF16Tensor makes a BF16 tensor of values, rounded to nearest even (as torch does).
func BF16Tensor(name string, shape []int, values []float32) Tensor {
	b := make([]byte, 2*len(values))
	for i, v := range values {
		bits := math.Float32bits(v)
		if v != v { // keep NaN a quiet NaN rather than rounding it into infinity
			bits |= 1 << 22
		} else {
			bits += 0x7fff + (bits>>16)&1
		}
		binary.LittleEndian.PutUint16(b[2*i:], uint16(bits>>16))
	}
	return Tensor{Name: name, DType: BF16, Shape: shape, Data: b}
}

// I64Tensor makes an I64 tensor of values.
func I64Tensor(name string, shape []int, values []int64) Tensor {
	b := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return Tensor{Name: name, DType: I64, Shape: shape, Data: b}
}

// I32Tensor makes an I32 tensor of values.
func I32Tensor(name string, shape []int, values []int32) Tensor {
	b := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
	}
	return Tensor{Name: name, DType: I32, Shape: shape, Data: b}
}

// WriteSafetensors writes tensors and optional metadata in the safetensors format. The
// output depends only on the input, not on the order of tensors: like the reference
// implementation it lays data out by decreasing element size, then name, so every tensor
// is aligned to its element size, and pads the header with spaces to a multiple of 8.
func WriteSafetensors(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	if err := writeSafetensors(w, tensors, metadata); err != nil {
		return fmt.Errorf("hf: write safetensors: %w", err)
	}
	return nil
}

func writeSafetensors(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	order := make([]Tensor, len(tensors))
	copy(order, tensors)
	sort.SliceStable(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.DType.Size() != b.DType.Size() {
			return a.DType.Size() > b.DType.Size()
		}
		return a.Name < b.Name
	})
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var offset int64
	for _, t := range order {
		if err := checkTensor(t); err != nil {
			return err
		}
		if _, dup := header[t.Name]; dup {
			return fmt.Errorf("tensor %q given twice", t.Name)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[t.Name] = map[string]any{
			"dtype":        t.DType,
			"shape":        shape,
			"data_offsets": []int64{offset, offset + int64(len(t.Data))},
		}
		offset += int64(len(t.Data))
	}
	js, err := json.Marshal(header) // map keys come out sorted
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	bw := bufio.NewWriter(w)
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(len(js)))
	bw.Write(prefix[:])
	bw.Write(js)
	for _, t := range order {
		bw.Write(t.Data)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return nil
}

func checkTensor(t Tensor) error {
	if t.Name == "" || t.Name == "__metadata__" {
		return fmt.Errorf("bad tensor name %q", t.Name)
	}
	if !t.DType.Valid() {
		return fmt.Errorf("tensor %q: unknown dtype %q", t.Name, t.DType)
	}
	n := 1
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("tensor %q: negative dimension in shape %v", t.Name, t.Shape)
		}
		n *= d
	}
	if want := n * t.DType.Size(); len(t.Data) != want {
		return fmt.Errorf("tensor %q: %s %v needs %d bytes, have %d", t.Name, t.DType, t.Shape, want, len(t.Data))
	}
	return nil
}

// WriteSafetensorsFile writes a safetensors file atomically: to a temporary file in the same
// folder, renamed into place once complete.
func WriteSafetensorsFile(path string, tensors []Tensor, metadata map[string]string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("hf: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := writeSafetensors(tmp, tensors, metadata); err != nil {
		tmp.Close()
		return fmt.Errorf("hf: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("hf: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("hf: write %s: %w", path, err)
	}
	return nil
}
