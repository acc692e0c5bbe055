package hf

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// clip_tiny_io.safetensors was written by transformers' safetensors; the expected values
// below were read from it with Python's struct module (see testdata/make_testdata.py).
func TestReadTransformersFile(t *testing.T) {
	s, err := OpenSafetensors(filepath.Join("testdata", "clip_tiny_io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	wantNames := []string{"attention_mask", "image_embeds", "input_ids", "logits_per_image", "pixel_values",
		"text_embeds", "text_last_hidden_state", "text_pooler_output", "vision_last_hidden_state", "vision_pooler_output"}
	if got := s.Names(); !reflect.DeepEqual(got, wantNames) {
		t.Fatalf("Names() = %v, want %v", got, wantNames)
	}

	ids, err := s.Int64("input_ids", 3, 16)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := []int64{712, 540, 79, 256, 280, 4, 713, 713, 713, 713, 713, 713, 713, 713, 713, 713,
		712, 90, 338, 168, 105, 572, 545, 655, 81, 408, 713, 713, 713, 713, 713, 713,
		712, 621, 596, 163, 713, 713, 713, 713, 713, 713, 713, 713, 713, 713, 713, 713}
	if !reflect.DeepEqual(ids, wantIDs) {
		t.Errorf("input_ids = %v, want %v", ids, wantIDs)
	}
	mask, err := s.Int64("attention_mask", 3, 16)
	if err != nil {
		t.Fatal(err)
	}
	var ones int64
	for _, m := range mask {
		ones += m
	}
	if ones != 7+11+5 {
		t.Errorf("attention_mask has %d ones, want 23", ones)
	}

	logits, err := s.Float32("logits_per_image", 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	wantLogits := []float32{1.4052122831344604, -0.3216353952884674, 0.2635139524936676,
		-0.3308291435241699, -2.0610337257385254, -2.2246811389923096}
	if !reflect.DeepEqual(logits, wantLogits) { // exact: the bits are copied, not computed
		t.Errorf("logits_per_image = %v, want %v", logits, wantLogits)
	}

	pv, err := s.Float32("pixel_values", 2, 3, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, v := range pv {
		sum += float64(v)
	}
	if pv[0] != -1.0408011674880981 || pv[2] != -1.3041903972625732 || math.Abs(sum-72.34988230340241) > 1e-9 {
		t.Errorf("pixel_values starts %v and sums to %v, want -1.0408012, 0.9166042, -1.3041904 and 72.34988230340241", pv[:3], sum)
	}

	info, err := s.Expect("text_embeds", -1, 32)
	if err != nil {
		t.Fatal(err)
	}
	if info.DType != F32 || info.Len() != 96 || info.Size != 384 {
		t.Errorf("text_embeds info = %+v", info)
	}
	raw, err := io.ReadAll(info.Reader())
	if err != nil || len(raw) != 384 {
		t.Fatalf("Reader read %d bytes, err %v", len(raw), err)
	}
	if v := math.Float32frombits(binary.LittleEndian.Uint32(raw)); v != mustFloat32(t, s, "text_embeds")[0] {
		t.Errorf("Reader and Float32 disagree on the first value")
	}
}

func mustFloat32(t *testing.T, s *Safetensors, name string) []float32 {
	t.Helper()
	v, err := s.Float32(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// dtypes.safetensors holds one tensor per dtype, written by Python's struct module.
func TestReadDTypes(t *testing.T) {
	s, err := OpenSafetensors(filepath.Join("testdata", "dtypes.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if md := s.Metadata(); md["format"] != "pt" || md["note"] != "hf test fixture" {
		t.Errorf("Metadata() = %v", md)
	}
	floats := []struct {
		name string
		want []float32
	}{
		{"f16", []float32{1, -2, 65504, float32(math.Ldexp(1, -24)), 0.333251953125, float32(math.Copysign(0, -1))}},
		// BF16 bits 0x3F80, 0x4049, 0xC2F7, 0x0001 are the top halves of these float32s.
		{"bf16", []float32{1, 3.140625, -123.5, math.Float32frombits(0x00010000)}},
		{"f64", []float32{0.1, float32(math.Inf(-1))}}, // -1e300 overflows float32
		{"f32_scalar", []float32{2.6592}},
		{"empty", []float32{}},
	}
	for _, c := range floats {
		got, err := s.Float32(c.name)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: %d values, want %d", c.name, len(got), len(c.want))
			continue
		}
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(c.want[i]) {
				t.Errorf("%s[%d] = %v, want %v", c.name, i, got[i], c.want[i])
			}
		}
	}
	ints := []struct {
		name string
		want []int64
	}{
		{"i64", []int64{-1, 1 << 40, 49407}},
		{"i32", []int64{-7, math.MaxInt32}},
		{"i16", []int64{-300, 300}},
		{"i8", []int64{-128, 127}},
		{"u8", []int64{0, 255}},
		{"mask", []int64{1, 0, 1}},
	}
	for _, c := range ints {
		got, err := s.Int64(c.name)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	if info, _ := s.Info("f32_scalar"); len(info.Shape) != 0 || info.Len() != 1 {
		t.Errorf("scalar info = %+v", info)
	}
	// Conversions the reader refuses, by name.
	if _, err := s.Float32("i64"); err == nil || !strings.Contains(err.Error(), `tensor "i64"`) || !strings.Contains(err.Error(), "not a float type") {
		t.Errorf("Float32 of I64: %v", err)
	}
	if _, err := s.Int64("f16"); err == nil || !strings.Contains(err.Error(), "not an integer type") {
		t.Errorf("Int64 of F16: %v", err)
	}
}

func TestMissingTensorAndWrongShape(t *testing.T) {
	path := filepath.Join("testdata", "clip_tiny_io.safetensors")
	s, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Has("x") {
		t.Error(`Has("x") = true`)
	}
	_, err = s.Float32("x")
	if want := `hf: tensor "x" not in ` + path; err == nil || err.Error() != want {
		t.Errorf("missing tensor: %v, want %q", err, want)
	}
	_, err = s.Expect("input_ids", 3, 77)
	if want := `hf: tensor "input_ids" in ` + path + ` has shape [3 16], want [3 77]`; err == nil || err.Error() != want {
		t.Errorf("wrong shape: %v, want %q", err, want)
	}
	if _, err := s.Float32("pixel_values", 2, 3, 32); err == nil || !strings.Contains(err.Error(), "want [2 3 32]") {
		t.Errorf("wrong rank: %v", err)
	}
	if err := s.ReadFloat32("pixel_values", make([]float32, 10)); err == nil || !strings.Contains(err.Error(), "destination has 10") {
		t.Errorf("short destination: %v", err)
	}
}

func TestMissingFile(t *testing.T) {
	_, err := OpenSafetensors(filepath.Join(t.TempDir(), "nope.safetensors"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "nope.safetensors") {
		t.Errorf("missing file: %v", err)
	}
	_, err = OpenWeights(t.TempDir())
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no model.safetensors") {
		t.Errorf("folder without weights: %v", err)
	}
}

// rawFile builds a safetensors file from a header given as text and data bytes.
func rawFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

func TestCorruptHeaders(t *testing.T) {
	f32 := func(n int) []byte { return make([]byte, 4*n) }
	hugeLength := binary.LittleEndian.AppendUint64(nil, 1<<40)
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty file", nil, "too short"},
		{"short length", []byte{1, 2, 3}, "too short"},
		{"length past the end", append(hugeLength, "{}"...), "corrupt header: length 1099511627776"},
		{"length one too long", append(binary.LittleEndian.AppendUint64(nil, 3), "{}"...), "does not fit"},
		{"not an object", rawFile(`["a"]`, nil), "not a JSON object"},
		{"bad JSON", rawFile(`{"a": {"dtype": "F32",`, nil), "corrupt header JSON"},
		{"record not an object", rawFile(`{"a": 3}`, nil), `tensor "a": bad record`},
		{"unknown dtype", rawFile(`{"a": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 4]}}`, f32(1)), `tensor "a": unknown dtype "Q4"`},
		{"no shape", rawFile(`{"a": {"dtype": "F32", "data_offsets": [0, 4]}}`, f32(1)), "no shape"},
		{"negative dim", rawFile(`{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}`, f32(1)), "negative dimension"},
		{"one offset", rawFile(`{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}`, f32(1)), "data_offsets has 1 values"},
		{"offsets outside the file", rawFile(`{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}`, f32(2)), "outside the 8 data bytes"},
		{"offsets reversed", rawFile(`{"a": {"dtype": "F32", "shape": [0], "data_offsets": [4, 0]}}`, f32(2)), "outside"},
		{"size mismatch", rawFile(`{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}`, f32(3)), "hold 8 bytes, but F32 [3] needs 12"},
		{"overlap", rawFile(`{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}`, f32(3)), `tensors "a" and "b" overlap`},
		{"huge shape", rawFile(`{"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}}`, f32(1)), "too large"},
		{"bad metadata", rawFile(`{"__metadata__": {"a": 1}}`, nil), "__metadata__ is not a map of strings"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".safetensors")
			if err := os.WriteFile(path, c.file, 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := OpenSafetensors(path)
			if err == nil {
				s.Close()
				t.Fatalf("opened a corrupt file")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file and say %q", err, c.want)
			}
		})
	}
}

// A file cut short after opening (another process rewriting it) fails the read cleanly.
func TestTruncatedAfterOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.safetensors")
	if err := WriteSafetensorsFile(path, []Tensor{F32Tensor("w", []int{1000}, make([]float32, 1000))}, nil); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := os.Truncate(path, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Float32("w"); err == nil || !strings.Contains(err.Error(), `read tensor "w"`) {
		t.Errorf("read of a truncated file: %v", err)
	}
}

func TestWriteRoundTrip(t *testing.T) {
	vals := []float32{0, 1, -1.5, 3.14159, 1e-8, 65504, 1e6}
	tensors := []Tensor{
		F32Tensor("a.weight", []int{7}, vals),
		F16Tensor("a.half", []int{7}, vals),
		BF16Tensor("a.bf16", []int{7}, vals),
		I64Tensor("ids", []int{2, 2}, []int64{1, -2, 3, 1 << 50}),
		I32Tensor("ids32", []int{2}, []int32{-5, 7}),
		F32Tensor("scalar", nil, []float32{2.5}),
	}
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	// The same tensors in another order give the same bytes.
	var again bytes.Buffer
	reversed := []Tensor{tensors[5], tensors[4], tensors[3], tensors[2], tensors[1], tensors[0]}
	if err := WriteSafetensors(&again, reversed, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("output depends on the order of tensors")
	}
	headerLen := binary.LittleEndian.Uint64(buf.Bytes())
	if headerLen%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", headerLen)
	}

	path := filepath.Join(t.TempDir(), "rt.safetensors")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, name := range s.Names() {
		info, _ := s.Info(name)
		if info.Offset%int64(info.DType.Size()) != 0 {
			t.Errorf("%s at offset %d is not aligned to %d", name, info.Offset, info.DType.Size())
		}
	}
	if got := mustFloat32(t, s, "a.weight"); !reflect.DeepEqual(got, vals) {
		t.Errorf("F32 round trip: %v", got)
	}
	// F16 and BF16 keep 11 and 8 significant bits: relative error at most 2^-11 and 2^-8.
	for name, tol := range map[string]float64{"a.half": 1.0 / 2048, "a.bf16": 1.0 / 256} {
		got := mustFloat32(t, s, name)
		for i, v := range vals {
			if name == "a.half" && (v == 1e-8 || v == 1e6) {
				continue // outside F16's range: checked below
			}
			if d := math.Abs(float64(got[i] - v)); d > tol*math.Abs(float64(v)) {
				t.Errorf("%s[%d] = %v, want %v within %v relative", name, i, got[i], v, tol)
			}
		}
	}
	if got := mustFloat32(t, s, "a.half"); got[4] != 0 { // 1e-8 underflows F16 to 0
		t.Errorf("F16 of 1e-8 = %v, want 0", got[4])
	}
	if got := mustFloat32(t, s, "a.half"); !math.IsInf(float64(got[6]), 1) { // 1e6 overflows F16
		t.Errorf("F16 of 1e6 = %v, want +Inf", got[6])
	}
	if got, _ := s.Int64("ids"); !reflect.DeepEqual(got, []int64{1, -2, 3, 1 << 50}) {
		t.Errorf("I64 round trip: %v", got)
	}
	if got, _ := s.Int64("ids32"); !reflect.DeepEqual(got, []int64{-5, 7}) {
		t.Errorf("I32 round trip: %v", got)
	}
	if got := mustFloat32(t, s, "scalar"); len(got) != 1 || got[0] != 2.5 {
		t.Errorf("scalar round trip: %v", got)
	}
	if md := s.Metadata(); md["format"] != "pt" {
		t.Errorf("metadata: %v", md)
	}
}

func TestBF16Rounding(t *testing.T) {
	cases := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3F80},
		{math.Float32frombits(0x3F808000), 0x3F80}, // tie, even stays
		{math.Float32frombits(0x3F818000), 0x3F82}, // tie, odd rounds up
		{math.Float32frombits(0x3F808001), 0x3F81}, // above the tie
		{float32(math.Inf(1)), 0x7F80},
		{math.MaxFloat32, 0x7F80}, // rounds to infinity, as torch does
	}
	for _, c := range cases {
		got := binary.LittleEndian.Uint16(BF16Tensor("x", []int{1}, []float32{c.in}).Data)
		if got != c.want {
			t.Errorf("BF16(%v) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	nan := binary.LittleEndian.Uint16(BF16Tensor("x", []int{1}, []float32{float32(math.NaN())}).Data)
	if nan&0x7F80 != 0x7F80 || nan&0x7F == 0 {
		t.Errorf("BF16(NaN) = %#04x, not a NaN", nan)
	}
}

func TestWriteErrors(t *testing.T) {
	cases := []struct {
		name    string
		tensors []Tensor
		want    string
	}{
		{"short data", []Tensor{{Name: "a", DType: F32, Shape: []int{2}, Data: make([]byte, 4)}}, `tensor "a": F32 [2] needs 8 bytes, have 4`},
		{"duplicate", []Tensor{F32Tensor("a", []int{1}, []float32{1}), F32Tensor("a", []int{1}, []float32{2})}, `"a" given twice`},
		{"unknown dtype", []Tensor{{Name: "a", DType: "Q4", Shape: []int{1}, Data: []byte{0}}}, `unknown dtype "Q4"`},
		{"no name", []Tensor{F32Tensor("", []int{1}, []float32{1})}, "bad tensor name"},
		{"reserved name", []Tensor{F32Tensor("__metadata__", []int{1}, []float32{1})}, "bad tensor name"},
		{"negative dim", []Tensor{{Name: "a", DType: F32, Shape: []int{-1}}}, "negative dimension"},
	}
	for _, c := range cases {
		err := WriteSafetensors(io.Discard, c.tensors, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := WriteSafetensorsFile(path, cases[0].tensors, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("file writer error %v does not name %s", err, path)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed write left %s behind", path)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
		t.Errorf("a failed write left %d files behind", len(entries))
	}
}

// Tensors bigger than one conversion chunk convert correctly across chunk boundaries.
func TestChunkedConversion(t *testing.T) {
	n := chunkBytes/2 + 12345 // F16: more than two chunks
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = float32(i%2048) - 1024 // exact in F16
	}
	path := filepath.Join(t.TempDir(), "big.safetensors")
	if err := WriteSafetensorsFile(path, []Tensor{F16Tensor("big", []int{n}, vals)}, nil); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := mustFloat32(t, s, "big"); !reflect.DeepEqual(got, vals) {
		t.Error("chunked F16 conversion differs from the values written")
	}
}

// unzipCheckpoint makes a checkpoint folder from testdata/clip_tiny: its config.json and
// the model.safetensors header transformers wrote (with zeroed data).
func unzipCheckpoint(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join("testdata", "clip_tiny", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	gz, err := os.Open(filepath.Join("testdata", "clip_tiny", "model.safetensors.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer gz.Close()
	zr, err := gzip.NewReader(gz)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A sharded checkpoint reads the same as the single file it was split from.
func TestShardedCheckpoint(t *testing.T) {
	single, err := OpenSafetensors(filepath.Join("testdata", "clip_tiny_io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	dir := t.TempDir()
	names := single.Names()
	shards := [2][]Tensor{}
	weightMap := map[string]string{}
	for i, name := range names {
		info, _ := single.Info(name)
		raw, err := single.Raw(name)
		if err != nil {
			t.Fatal(err)
		}
		shard := i % 2
		shards[shard] = append(shards[shard], Tensor{Name: name, DType: info.DType, Shape: info.Shape, Data: raw})
		weightMap[name] = []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}[shard]
	}
	for i, ts := range shards {
		name := []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}[i]
		if err := WriteSafetensorsFile(filepath.Join(dir, name), ts, nil); err != nil {
			t.Fatal(err)
		}
	}
	writeIndex := func(weightMap map[string]string) {
		t.Helper()
		var b strings.Builder
		b.WriteString(`{"metadata": {"total_size": 1234567890}, "weight_map": {`)
		first := true
		for k, v := range weightMap {
			if !first {
				b.WriteString(",")
			}
			first = false
			b.WriteString(`"` + k + `": "` + v + `"`)
		}
		b.WriteString("}}")
		if err := os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeIndex(weightMap)

	sharded, err := OpenWeights(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sharded.Names(), names) {
		t.Errorf("sharded names %v, want %v", sharded.Names(), names)
	}
	if sharded.Metadata()["total_size"] != "1234567890" {
		t.Errorf("index metadata: %v", sharded.Metadata())
	}
	for _, name := range names {
		a, _ := single.Raw(name)
		b, err := sharded.Raw(name)
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between the single file and the shards (err %v)", name, err)
		}
	}
	if _, err := sharded.Float32("nope"); err == nil || !strings.Contains(err.Error(), "model.safetensors.index.json") {
		t.Errorf("missing tensor in shards: %v", err)
	}
	sharded.Close()

	// The index names a tensor its shard lacks; then a shard that is not there; then a path.
	bad := map[string]string{"input_ids": "model-00002-of-00002.safetensors"}
	if names[0] == "input_ids" || weightMap["input_ids"] == "model-00002-of-00002.safetensors" {
		bad["input_ids"] = "model-00001-of-00002.safetensors"
	}
	writeIndex(bad)
	if _, err := OpenWeights(dir); err == nil || !strings.Contains(err.Error(), `tensor "input_ids" not in its shard`) {
		t.Errorf("tensor in the wrong shard: %v", err)
	}
	writeIndex(map[string]string{"x": "model-00003-of-00003.safetensors"})
	if _, err := OpenWeights(dir); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "model-00003-of-00003.safetensors") {
		t.Errorf("missing shard: %v", err)
	}
	writeIndex(map[string]string{"x": "../model.safetensors"})
	if _, err := OpenWeights(dir); err == nil || !strings.Contains(err.Error(), "not a file name") {
		t.Errorf("shard path outside the folder: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), []byte(`{"weight_map": {}}`), 0o644)
	if _, err := OpenWeights(dir); err == nil || !strings.Contains(err.Error(), "empty or missing weight_map") {
		t.Errorf("empty index: %v", err)
	}
}

// Concurrent readers of one Safetensors see the same data (ReadAt has no shared offset).
func TestConcurrentReads(t *testing.T) {
	s, err := OpenSafetensors(filepath.Join("testdata", "clip_tiny_io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := mustFloat32(t, s, "pixel_values")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				got, err := s.Float32("pixel_values")
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Error("concurrent read differs")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkFloat32(b *testing.B) {
	vals := make([]float32, 1<<20) // a 4 MB F32 tensor, 2 MB as F16
	for i := range vals {
		vals[i] = float32(i%1000) / 1000
	}
	path := filepath.Join(b.TempDir(), "bench.safetensors")
	if err := WriteSafetensorsFile(path, []Tensor{F32Tensor("f32", []int{len(vals)}, vals), F16Tensor("f16", []int{len(vals)}, vals), BF16Tensor("bf16", []int{len(vals)}, vals)}, nil); err != nil {
		b.Fatal(err)
	}
	s, err := OpenSafetensors(path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	dst := make([]float32, len(vals))
	for _, name := range []string{"f32", "f16", "bf16"} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(4 * len(vals)))
			for b.Loop() {
				if err := s.ReadFloat32(name, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
