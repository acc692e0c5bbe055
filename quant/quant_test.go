package quant

import (
	"math"
	"strings"
	"testing"
)

func TestAffineParams(t *testing.T) {
	tests := []struct {
		name     string
		min, max float32
		qmin     int32
		qmax     int32
		scale    float32
		zp       int32
	}{
		// Symmetric range: zero point -0.5 rounds away from zero to -1 (TFLite's rounding).
		{"int8 symmetric", -1, 1, -128, 127, float32(2.0 / 255), -1},
		// Only positive values: the range is widened to include 0, zero maps to qmin.
		{"int8 positive", 2, 6, -128, 127, float32(6.0 / 255), -128},
		{"int8 negative", -3, -1, -128, 127, float32(3.0 / 255), 127},
		{"uint8 unit", 0, 1, 0, 255, float32(1.0 / 255), 0},
		{"uint8 skewed", -1, 3, 0, 255, float32(4.0 / 255), 64},
		{"point range", 0, 0, -128, 127, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := AffineParams(tc.min, tc.max, tc.qmin, tc.qmax)
			if err != nil {
				t.Fatal(err)
			}
			if p.Scale != tc.scale || p.ZeroPoint != tc.zp {
				t.Fatalf("got scale %v zero point %d, want %v %d", p.Scale, p.ZeroPoint, tc.scale, tc.zp)
			}
			// Zero is always exactly representable.
			if got := p.Dequantize(p.Quantize(0)); got != 0 {
				t.Fatalf("0 round-trips to %v", got)
			}
			// The range ends round-trip to within half a step.
			for _, x := range []float32{min(tc.min, 0), max(tc.max, 0)} {
				if d := math.Abs(float64(p.Dequantize(p.Quantize(x)) - x)); d > float64(p.Scale)/2+1e-7 {
					t.Fatalf("%v round-trips with error %v > scale/2", x, d)
				}
			}
		})
	}
}

func TestAffineParamsErrors(t *testing.T) {
	for _, tc := range []struct {
		min, max   float32
		qmin, qmax int32
		want       string
	}{
		{1, -1, -128, 127, "min above max"},
		{float32(math.NaN()), 1, -128, 127, "not finite"},
		{0, float32(math.Inf(1)), -128, 127, "not finite"},
		{-1, 1, 5, 5, "empty"},
	} {
		_, err := AffineParams(tc.min, tc.max, tc.qmin, tc.qmax)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AffineParams(%v,%v,%d,%d) error %v, want %q", tc.min, tc.max, tc.qmin, tc.qmax, err, tc.want)
		}
	}
}

func TestQuantizeClampsAndRounds(t *testing.T) {
	p := Params{Scale: 0.5, ZeroPoint: 10, QMin: -128, QMax: 127}
	for _, tc := range []struct {
		x float32
		q int32
	}{
		{0, 10}, {0.25, 11}, {-0.25, 9}, {0.74, 11}, {100, 127}, {-100, -128}, {1, 12},
	} {
		if got := p.Quantize(tc.x); got != tc.q {
			t.Errorf("Quantize(%v) = %d, want %d", tc.x, got, tc.q)
		}
	}
	q, err := p.QuantizeInt8([]float32{0, 1, -1})
	if err != nil || q[0] != 10 || q[1] != 12 || q[2] != 8 {
		t.Fatalf("QuantizeInt8 = %v, %v", q, err)
	}
	if _, err := (Params{Scale: 1, QMin: 0, QMax: 255}).QuantizeInt8([]float32{1}); err == nil {
		t.Fatal("uint8 parameters accepted for int8 values")
	}
	if got := p.DequantizeInt8([]int8{10, 12, 8}); got[0] != 0 || got[1] != 1 || got[2] != -1 {
		t.Fatalf("DequantizeInt8 = %v", got)
	}
}

func TestSymmetricPerChannel(t *testing.T) {
	// Weight [3 out, 2 in]; row 2 is all zero.
	w := []float32{
		1.27, -0.635,
		-2.54, 1,
		0, 0,
	}
	cw, err := SymmetricPerChannel(w, []int{3, 2}, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantScales := []float32{float32(1.27 / 127), float32(2.54 / 127), 1}
	wantValues := []int8{127, -64, -127, 50, 0, 0} // -0.635/0.01 = -63.5 rounds away from zero
	for i := range wantScales {
		if cw.Scales[i] != wantScales[i] {
			t.Fatalf("scales %v, want %v", cw.Scales, wantScales)
		}
	}
	for i := range wantValues {
		if cw.Values[i] != wantValues[i] {
			t.Fatalf("values %v, want %v", cw.Values, wantValues)
		}
	}
	back, err := cw.Dequantize([]int{3, 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range w {
		// Symmetric rounding: error at most half a step of the row's scale.
		if d := math.Abs(float64(back[i] - w[i])); d > float64(cw.Scales[i/2])/2+1e-7 {
			t.Fatalf("weight %d: %v back as %v", i, w[i], back[i])
		}
	}
}

func TestSymmetricPerChannelInnerAxis(t *testing.T) {
	// Shape [2, 3], channels along axis 1 (columns).
	w := []float32{1, -2, 0.5, -1, 4, 0.25}
	cw, err := SymmetricPerChannel(w, []int{2, 3}, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{float32(1.0 / 127), float32(4.0 / 127), float32(0.5 / 127)}
	for i := range want {
		if cw.Scales[i] != want[i] {
			t.Fatalf("scales %v, want %v", cw.Scales, want)
		}
	}
	if cw.Values[0] != 127 || cw.Values[3] != -127 || cw.Values[4] != 127 || cw.Values[1] != -64 || cw.Values[2] != 127 || cw.Values[5] != 64 {
		t.Fatalf("values %v", cw.Values)
	}
	if _, err := SymmetricPerChannel(w, []int{2, 2}, 0); err == nil {
		t.Fatal("shape mismatch accepted")
	}
	if _, err := SymmetricPerChannel(w, []int{2, 3}, 2); err == nil {
		t.Fatal("axis out of range accepted")
	}
	if _, err := SymmetricPerChannel([]float32{float32(math.NaN())}, []int{1}, 0); err == nil {
		t.Fatal("NaN weight accepted")
	}
}

func TestSymmetricPerTensor(t *testing.T) {
	v, s, err := SymmetricPerTensor([]float32{0.5, -1, 0.25})
	if err != nil {
		t.Fatal(err)
	}
	if s != float32(1.0/127) || v[0] != 64 || v[1] != -127 || v[2] != 32 {
		t.Fatalf("got %v scale %v", v, s)
	}
}

func TestBias(t *testing.T) {
	vals, scales, err := Bias([]float32{1, -0.5, 0.003}, 0.1, []float32{0.01, 0.02, 0.001})
	if err != nil {
		t.Fatal(err)
	}
	// scales 0.001, 0.002, 0.0001 -> 1/0.001 = 1000, -0.5/0.002 = -250, 0.003/0.0001 = 30.
	if vals[0] != 1000 || vals[1] != -250 || vals[2] != 30 {
		t.Fatalf("values %v", vals)
	}
	if scales[0] != float32(0.1*0.01) || scales[1] != float32(0.1*0.02) {
		t.Fatalf("scales %v", scales)
	}
	// Per-tensor weight scale: one scale for all.
	vals, _, err = Bias([]float32{2, -2}, 0.5, []float32{0.5})
	if err != nil || vals[0] != 8 || vals[1] != -8 {
		t.Fatalf("per-tensor: %v %v", vals, err)
	}
	// Saturates at the int32 range instead of wrapping.
	vals, _, err = Bias([]float32{1e9}, 1e-3, []float32{1e-3})
	if err != nil || vals[0] != math.MaxInt32 {
		t.Fatalf("saturation: %v %v", vals, err)
	}
	if _, _, err := Bias([]float32{1, 2}, 0.1, []float32{1, 2, 3}); err == nil {
		t.Fatal("scale count mismatch accepted")
	}
	if _, _, err := Bias([]float32{1}, 0, []float32{1}); err == nil {
		t.Fatal("zero input scale accepted")
	}
}

func TestFloat16(t *testing.T) {
	xs := []float32{0, 1, -2, 0.5, 65504, float32(1.0 / 3), 1e-8}
	bits, err := Float16(xs)
	if err != nil {
		t.Fatal(err)
	}
	// Bit patterns from the IEEE 754 binary16 definition.
	want := []uint16{0x0000, 0x3c00, 0xc000, 0x3800, 0x7bff, 0x3555, 0x0000}
	for i := range want {
		if bits[i] != want[i] {
			t.Errorf("Float16(%v) = %#04x, want %#04x", xs[i], bits[i], want[i])
		}
	}
	back := FromFloat16(bits)
	if back[4] != 65504 || back[5] != 0.333251953125 {
		t.Fatalf("back %v", back)
	}
	b, err := Float16Bytes([]float32{1})
	if err != nil || len(b) != 2 || b[0] != 0x00 || b[1] != 0x3c {
		t.Fatalf("Float16Bytes little-endian: %v %v", b, err)
	}
	if _, err := Float16([]float32{1, 70000}); err == nil || !strings.Contains(err.Error(), "value 1") {
		t.Fatalf("overflow: %v", err)
	}
}

func TestMinMax(t *testing.T) {
	var o MinMax
	if _, err := o.Range(); err == nil {
		t.Fatal("range before any observation")
	}
	must(t, o.Observe([]float32{1, 2, 3}))
	must(t, o.Observe([]float32{-4, 0}))
	r, err := o.Range()
	if err != nil || r != (Range{-4, 3}) {
		t.Fatalf("range %v %v", r, err)
	}
	if err := o.Observe([]float32{float32(math.NaN())}); err == nil {
		t.Fatal("NaN accepted")
	}
	if err := o.Observe(nil); err == nil {
		t.Fatal("empty batch accepted")
	}
}

func TestMovingAverage(t *testing.T) {
	o := MovingAverage{Constant: 0.5}
	must(t, o.Observe([]float32{-2, 2}))  // first batch taken as is
	must(t, o.Observe([]float32{-4, 10})) // min -2 + 0.5*(-4+2) = -3, max 2 + 0.5*(10-2) = 6
	r, err := o.Range()
	if err != nil || r != (Range{-3, 6}) {
		t.Fatalf("range %v %v", r, err)
	}
	bad := MovingAverage{Constant: 2}
	if err := bad.Observe([]float32{1}); err == nil {
		t.Fatal("constant 2 accepted")
	}
}

func TestPercentile(t *testing.T) {
	o := Percentile{Percent: 99}
	// 0..9999 in two batches, the second one forcing the histogram to grow twice.
	a := make([]float32, 2500)
	b := make([]float32, 7500)
	for i := range a {
		a[i] = float32(i)
	}
	for i := range b {
		b[i] = float32(2500 + i)
	}
	must(t, o.Observe(a))
	must(t, o.Observe(b))
	r, err := o.Range()
	if err != nil {
		t.Fatal(err)
	}
	// The true percentiles are 99 and 9899; the histogram is exact to one bin width.
	binWidth := 2 * o.radius / PercentileBins
	if math.Abs(float64(r.Min)-99) > binWidth || math.Abs(float64(r.Max)-9899) > binWidth {
		t.Fatalf("range %v, want [99, 9899] within %v", r, binWidth)
	}
	// One huge outlier among 10000 values in [-1, 0.99] (resolution 0.01): the range stays
	// inside the bulk of the data although a bin is now about 1 wide.
	o2 := Percentile{Percent: 99.9}
	xs := make([]float32, 10000)
	for i := range xs {
		xs[i] = float32(i%200)/100 - 1 // [-1, 0.99]
	}
	xs[0] = 1000
	must(t, o2.Observe(xs))
	r2, _ := o2.Range()
	if r2.Max > 0.99 || r2.Max < 0 || r2.Min < -1 || r2.Min > 0 {
		t.Fatalf("outlier not clipped: %v", r2)
	}
	if err := (&Percentile{Percent: 20}).Observe(xs); err == nil {
		t.Fatal("percentile 20 accepted")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
