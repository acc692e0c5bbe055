package quant

import (
	"errors"
	"fmt"
	"math"
)

// Range is a closed interval of real values seen in a tensor.
type Range struct {
	Min, Max float32
}

// Params returns int8 parameters for the range.
func (r Range) Params() (Params, error) { return Int8Params(r.Min, r.Max) }

// Observer accumulates the values a tensor takes during calibration and proposes a range for
// its quantization parameters. Observe is called once per batch (one model run).
type Observer interface {
	Observe(xs []float32) error
	Range() (Range, error)
}

// errNothingObserved is returned by Range before any value was observed.
var errNothingObserved = errors.New("quant: no values observed")

// checkBatch rejects NaN and infinities, which would poison any range.
func checkBatch(xs []float32) (lo, hi float32, err error) {
	if len(xs) == 0 {
		return 0, 0, errors.New("quant: empty batch")
	}
	lo, hi = xs[0], xs[0]
	for i, x := range xs {
		if !finite(x) {
			return 0, 0, fmt.Errorf("quant: observed value %d is %v", i, x)
		}
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi, nil
}

// MinMax keeps the smallest and largest value ever seen: the range covers every calibration
// value, so nothing saturates, at the price of resolution when there are outliers.
type MinMax struct {
	r    Range
	seen bool
}

// Observe implements Observer.
func (o *MinMax) Observe(xs []float32) error {
	lo, hi, err := checkBatch(xs)
	if err != nil {
		return err
	}
	if !o.seen {
		o.r, o.seen = Range{lo, hi}, true
		return nil
	}
	o.r.Min, o.r.Max = min(o.r.Min, lo), max(o.r.Max, hi)
	return nil
}

// Range implements Observer.
func (o *MinMax) Range() (Range, error) {
	if !o.seen {
		return Range{}, errNothingObserved
	}
	return o.r, nil
}

// MovingAverage follows each batch's min and max with an exponential moving average
// (range = (1-c)*range + c*batch, the first batch taken as is), as TensorFlow's
// quantization-aware training does; one unusual batch moves the range only by the fraction c.
type MovingAverage struct {
	// Constant is c in (0, 1]; 0 means the default 0.01.
	Constant float32
	r        Range
	seen     bool
}

// Observe implements Observer.
func (o *MovingAverage) Observe(xs []float32) error {
	lo, hi, err := checkBatch(xs)
	if err != nil {
		return err
	}
	c := o.Constant
	if c == 0 {
		c = 0.01
	}
	if !(c > 0 && c <= 1) {
		return fmt.Errorf("quant: moving average constant %v outside (0, 1]", c)
	}
	if !o.seen {
		o.r, o.seen = Range{lo, hi}, true
		return nil
	}
	o.r.Min += c * (lo - o.r.Min)
	o.r.Max += c * (hi - o.r.Max)
	return nil
}

// Range implements Observer.
func (o *MovingAverage) Range() (Range, error) {
	if !o.seen {
		return Range{}, errNothingObserved
	}
	return o.r, nil
}

// PercentileBins is the number of histogram bins of a Percentile observer.
const PercentileBins = 2048

// Percentile clips the range to the given percentiles of all values seen, which ignores rare
// outliers (e.g. the few huge activations of a transformer's residual stream). It keeps a
// histogram over [-R, R] that doubles R (merging bin pairs) when a value falls outside, so
// memory stays fixed. Each bin also remembers the smallest and largest value it received, and
// the result is interpolated between those, so it is exact to within one bin width,
// 2R/PercentileBins, and never lies in a gap between observed values wider than a bin.
type Percentile struct {
	// Percent is the upper percentile, e.g. 99.99; the lower one is 100-Percent.
	Percent float64

	bins         []float64
	binLo, binHi []float32 // extremes of the values in each bin
	radius       float64   // the histogram spans [-radius, radius]
	count        float64
	lo, hi       float32 // exact extremes, so the result never exceeds what was seen
}

// Observe implements Observer.
func (o *Percentile) Observe(xs []float32) error {
	if !(o.Percent > 50 && o.Percent <= 100) {
		return fmt.Errorf("quant: percentile %v outside (50, 100]", o.Percent)
	}
	lo, hi, err := checkBatch(xs)
	if err != nil {
		return err
	}
	need := math.Max(math.Abs(float64(lo)), math.Abs(float64(hi)))
	if o.bins == nil {
		o.bins = make([]float64, PercentileBins)
		o.binLo = make([]float32, PercentileBins)
		o.binHi = make([]float32, PercentileBins)
		o.radius = math.Max(need, 1e-8)
		o.lo, o.hi = lo, hi
	}
	for need > o.radius {
		o.grow()
	}
	o.lo, o.hi = min(o.lo, lo), max(o.hi, hi)
	width := 2 * o.radius / PercentileBins
	for _, x := range xs {
		i := min(max(int((float64(x)+o.radius)/width), 0), PercentileBins-1)
		o.add(i, 1, x, x)
	}
	o.count += float64(len(xs))
	return nil
}

// add puts count values with extremes lo, hi into bin i.
func (o *Percentile) add(i int, count float64, lo, hi float32) {
	if o.bins[i] == 0 {
		o.binLo[i], o.binHi[i] = lo, hi
	} else {
		o.binLo[i], o.binHi[i] = min(o.binLo[i], lo), max(o.binHi[i], hi)
	}
	o.bins[i] += count
}

// grow doubles the radius: old bin i covers half of new bin Bins/4 + i/2.
func (o *Percentile) grow() {
	bins, lo, hi := o.bins, o.binLo, o.binHi
	o.bins = make([]float64, PercentileBins)
	o.binLo = make([]float32, PercentileBins)
	o.binHi = make([]float32, PercentileBins)
	for i, c := range bins {
		if c > 0 {
			o.add(PercentileBins/4+i/2, c, lo[i], hi[i])
		}
	}
	o.radius *= 2
}

// Range implements Observer.
func (o *Percentile) Range() (Range, error) {
	if o.count == 0 {
		return Range{}, errNothingObserved
	}
	lo := o.quantile((100 - o.Percent) / 100)
	hi := o.quantile(o.Percent / 100)
	return Range{Min: max(float32(lo), o.lo), Max: min(float32(hi), o.hi)}, nil
}

// quantile interpolates linearly, between the extremes of the values in the bin where the
// cumulative count reaches q.
func (o *Percentile) quantile(q float64) float64 {
	target := q * o.count
	cum := 0.0
	for i, c := range o.bins {
		if c > 0 && cum+c >= target {
			frac := (target - cum) / c
			return float64(o.binLo[i]) + frac*float64(o.binHi[i]-o.binLo[i])
		}
		cum += c
	}
	return float64(o.hi)
}
