package imageproc

import (
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"testing"
)

// tensor is a float32 reference tensor read from a safetensors file.
type tensor struct {
	shape []int
	data  []float32
}

// readSafetensorsGz reads every F32 tensor of a gzipped safetensors file (the format of the
// reference data, compressed because normalised pixels repeat a few values).
func readSafetensorsGz(t *testing.T, path string) map[string]tensor {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	tensors, err := parseSafetensors(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return tensors
}

func parseSafetensors(data []byte) (map[string]tensor, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("too short")
	}
	n := binary.LittleEndian.Uint64(data)
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("header length %d beyond the file", n)
	}
	var header map[string]struct {
		DType   string `json:"dtype"`
		Shape   []int  `json:"shape"`
		Offsets [2]int `json:"data_offsets"`
	}
	if err := json.Unmarshal(data[8:8+n], &header); err != nil {
		return nil, err
	}
	body := data[8+n:]
	out := map[string]tensor{}
	for name, e := range header {
		if name == "__metadata__" || e.DType != "F32" {
			continue
		}
		if e.Offsets[0] < 0 || e.Offsets[1] > len(body) || e.Offsets[1] < e.Offsets[0] || (e.Offsets[1]-e.Offsets[0])%4 != 0 {
			return nil, fmt.Errorf("tensor %s: bad offsets %v", name, e.Offsets)
		}
		raw := body[e.Offsets[0]:e.Offsets[1]]
		values := make([]float32, len(raw)/4)
		for i := range values {
			values[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		count := 1
		for _, d := range e.Shape {
			count *= d
		}
		if count != len(values) {
			return nil, fmt.Errorf("tensor %s: shape %v but %d values", name, e.Shape, len(values))
		}
		out[name] = tensor{shape: e.Shape, data: values}
	}
	return out, nil
}
