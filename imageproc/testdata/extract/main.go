// Command extract copies the reference tensors the imageproc tests need out of the shared
// reference data into small gzipped safetensors files in this testdata folder. It is run by
// hand when the references change, from the repository root:
//
//	go run ./imageproc/testdata/extract SHARED_DIR
//
// where SHARED_DIR holds golden/preprocess/io.safetensors and
// models/shapes/reference.safetensors.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type entry struct {
	DType   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Offsets [2]int `json:"data_offsets"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: extract SHARED_DIR")
		os.Exit(2)
	}
	shared := os.Args[1]
	out := filepath.Join("imageproc", "testdata")
	jobs := []struct{ from, to string }{
		{filepath.Join(shared, "golden", "preprocess", "io.safetensors"), "preprocess_pixel_values.safetensors.gz"},
		{filepath.Join(shared, "models", "shapes", "reference.safetensors"), "shapes_pixel_values.safetensors.gz"},
	}
	for _, j := range jobs {
		if err := extract(j.from, filepath.Join(out, j.to), func(name string) bool {
			return strings.Contains(name, "pixel_values")
		}); err != nil {
			fmt.Fprintln(os.Stderr, "extract:", err)
			os.Exit(1)
		}
	}
}

// extract writes the tensors of from whose names keep accepts, unchanged, to a gzipped
// safetensors file.
func extract(from, to string, keep func(string) bool) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if len(data) < 8 {
		return fmt.Errorf("%s: too short for safetensors", from)
	}
	n := binary.LittleEndian.Uint64(data)
	if n > uint64(len(data)-8) {
		return fmt.Errorf("%s: header length %d beyond the file", from, n)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &header); err != nil {
		return fmt.Errorf("%s: header: %w", from, err)
	}
	body := data[8+n:]
	var names []string
	for name := range header {
		if name != "__metadata__" && keep(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)

	outHeader := map[string]entry{}
	var outBody bytes.Buffer
	for _, name := range names {
		var e entry
		if err := json.Unmarshal(header[name], &e); err != nil {
			return fmt.Errorf("%s: tensor %s: %w", from, name, err)
		}
		if e.Offsets[0] < 0 || e.Offsets[1] < e.Offsets[0] || e.Offsets[1] > len(body) {
			return fmt.Errorf("%s: tensor %s: offsets %v outside the data", from, name, e.Offsets)
		}
		start := outBody.Len()
		outBody.Write(body[e.Offsets[0]:e.Offsets[1]])
		e.Offsets = [2]int{start, outBody.Len()}
		outHeader[name] = e
	}
	headerJSON, err := json.Marshal(outHeader)
	if err != nil {
		return err
	}
	var file bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&file, gzip.BestCompression)
	var size [8]byte
	binary.LittleEndian.PutUint64(size[:], uint64(len(headerJSON)))
	zw.Write(size[:])
	zw.Write(headerJSON)
	zw.Write(outBody.Bytes())
	if err := zw.Close(); err != nil {
		return err
	}
	fmt.Printf("%s: %d tensors, %d bytes\n", to, len(names), file.Len())
	return os.WriteFile(to, file.Bytes(), 0o644)
}
