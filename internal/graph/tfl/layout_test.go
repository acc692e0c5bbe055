package tfl

import (
	"reflect"
	"testing"
	"unsafe"
)

// The file holds the constants read at run time first and the weights after them, from a page
// boundary, each weight aligned to a cache line; the model reads back unchanged.
func TestLayoutPutsWeightsAfterTheConstants(t *testing.T) {
	bytesOf := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i)
		}
		return b
	}
	m := &Model{
		Version: SchemaVersion,
		Buffers: []Buffer{{},
			{Data: bytesOf(4*8*300, 1)}, // 1: FULLY_CONNECTED filter
			{Data: bytesOf(4*8, 2)},     // 2: its bias, read at run time
			{Data: bytesOf(4*3, 3)},     // 3: RESHAPE's shape
			{Data: bytesOf(4*300, 4)},   // 4: a filter also added elementwise: read at run time
			{Data: bytesOf(300*5, 5)},   // 5: DEQUANTIZE's int8 input
			{Data: []byte(`{"k":"v"}`)}, // 6: metadata
			{Data: bytesOf(4*300, 7)},   // 7: GATHER's table
		},
		Metadata:      []Metadata{{Name: "m", Buffer: 6}},
		OperatorCodes: []OperatorCode{{Builtin: OpFullyConnected, Version: 1}, {Builtin: OpReshape, Version: 1}, {Builtin: OpAdd, Version: 1}, {Builtin: OpDequantize, Version: 1}, {Builtin: OpGather, Version: 1}},
		Subgraphs: []Subgraph{{
			Tensors: []Tensor{
				{Name: "x", Type: Float32, Shape: []int32{1, 300}},
				{Name: "w", Type: Float32, Shape: []int32{8, 300}, Buffer: 1},
				{Name: "b", Type: Float32, Shape: []int32{8}, Buffer: 2},
				{Name: "y", Type: Float32, Shape: []int32{1, 8}},
				{Name: "shape", Type: Int32, Shape: []int32{3}, Buffer: 3},
				{Name: "z", Type: Float32, Shape: []int32{1, 2, 4}},
				{Name: "w1", Type: Float32, Shape: []int32{1, 300}, Buffer: 4},
				{Name: "y1", Type: Float32, Shape: []int32{1, 1}},
				{Name: "x1", Type: Float32, Shape: []int32{1, 300}},
				{Name: "q", Type: Int8, Shape: []int32{5, 300}, Buffer: 5, Quantization: &Quantization{Scale: []float32{0.5}, ZeroPoint: []int64{0}}},
				{Name: "dq", Type: Float32, Shape: []int32{5, 300}},
				{Name: "table", Type: Float32, Shape: []int32{1, 300}, Buffer: 7},
				{Name: "ids", Type: Int32, Shape: []int32{1}},
				{Name: "rows", Type: Float32, Shape: []int32{1, 300}},
			},
			Operators: []Operator{
				{OpcodeIndex: 0, Inputs: []int32{0, 1, 2}, Outputs: []int32{3}},
				{OpcodeIndex: 1, Inputs: []int32{3, 4}, Outputs: []int32{5}},
				{OpcodeIndex: 0, Inputs: []int32{0, 6, -1}, Outputs: []int32{7}},
				{OpcodeIndex: 2, Inputs: []int32{0, 6}, Outputs: []int32{8}},
				{OpcodeIndex: 3, Inputs: []int32{9}, Outputs: []int32{10}},
				{OpcodeIndex: 4, Inputs: []int32{11, 12}, Outputs: []int32{13}},
			},
			Inputs: []int32{0, 12}, Outputs: []int32{5, 7, 8, 10, 13},
		}},
	}
	weights, constants := dataLayout(m)
	if want := []int{1, 5, 7}; !reflect.DeepEqual(weights, want) {
		t.Errorf("weights: buffers %v, want %v", weights, want)
	}
	if want := []int{2, 3, 4, 6}; !reflect.DeepEqual(constants, want) {
		t.Errorf("constants read at run time: buffers %v, want %v", constants, want)
	}
	data, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Buffers, m.Buffers) || !reflect.DeepEqual(back.Subgraphs, m.Subgraphs) {
		t.Fatal("the model did not read back unchanged")
	}
	at := func(i int) int {
		return int(uintptr(unsafe.Pointer(&back.Buffers[i].Data[0])) - uintptr(unsafe.Pointer(&data[0])))
	}
	firstWeight, lastConstantEnd := len(data), 0
	for _, i := range weights {
		if at(i)%weightAlign != 0 {
			t.Errorf("weight buffer %d at byte %d, not aligned to %d", i, at(i), weightAlign)
		}
		firstWeight = min(firstWeight, at(i))
	}
	for _, i := range constants {
		if at(i)%bufferAlign != 0 {
			t.Errorf("buffer %d at byte %d, not aligned to %d", i, at(i), bufferAlign)
		}
		lastConstantEnd = max(lastConstantEnd, at(i)+len(back.Buffers[i].Data))
	}
	if firstWeight/weightsRegionAlign <= (lastConstantEnd-1)/weightsRegionAlign {
		t.Errorf("the constants end at byte %d and the weights start at %d, on the same %d-byte page", lastConstantEnd, firstWeight, weightsRegionAlign)
	}
	if len(data)%weightsRegionAlign != 0 {
		t.Errorf("file of %d bytes: the page alignment counts from its end, so it must be whole pages", len(data))
	}
}
