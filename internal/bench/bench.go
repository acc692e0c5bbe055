// Package bench is edged's measurement harness: it times a stage (warm-up, then N runs),
// reports p50/p90, reads the process's peak resident memory and model file sizes, and writes
// results as an aligned table or as JSON lines.
//
// Figures are reported, never asserted: a timing depends on the machine and on what else runs
// on it. Percentiles use the nearest-rank method on the sorted run times (p50 of 5 runs is the
// 3rd fastest, p90 the 5th).
package bench

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// Options say how many times a stage runs.
type Options struct {
	// Warmup runs are made and discarded first (they pay for lazy allocation, weight packing,
	// cold caches). 0 means 1; a negative value means none.
	Warmup int
	// Runs is the number of timed runs; 0 means 10.
	Runs int
	// MaxTime, when positive, stops timing early once this much time went into timed runs
	// (at least 3 runs are made): slow stages at real size then take seconds, not minutes.
	MaxTime time.Duration
}

func (o Options) withDefaults() Options {
	if o.Warmup == 0 {
		o.Warmup = 1
	} else if o.Warmup < 0 {
		o.Warmup = 0
	}
	if o.Runs <= 0 {
		o.Runs = 10
	}
	return o
}

// Stats summarise the timed runs of a stage.
type Stats struct {
	Runs           int
	P50, P90       time.Duration
	Min, Max, Mean time.Duration
}

// Ms converts a duration to milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (s Stats) String() string {
	return fmt.Sprintf("p50 %.3f ms, p90 %.3f ms (min %.3f, max %.3f) over %d runs", Ms(s.P50), Ms(s.P90), Ms(s.Min), Ms(s.Max), s.Runs)
}

// Measure runs fn o.Warmup times, then times o.Runs calls. The first error stops it and is
// returned, wrapped with the run it happened in.
func Measure(o Options, fn func() error) (Stats, error) {
	o = o.withDefaults()
	for i := 0; i < o.Warmup; i++ {
		if err := fn(); err != nil {
			return Stats{}, fmt.Errorf("warm-up run %d: %w", i+1, err)
		}
	}
	times := make([]time.Duration, 0, o.Runs)
	var spent time.Duration
	for i := 0; i < o.Runs; i++ {
		start := time.Now()
		err := fn()
		d := time.Since(start)
		if err != nil {
			return Stats{}, fmt.Errorf("run %d: %w", i+1, err)
		}
		times = append(times, d)
		spent += d
		if o.MaxTime > 0 && spent >= o.MaxTime && len(times) >= 3 {
			break
		}
	}
	return Summarize(times)
}

// Summarize computes the statistics of a set of run times (nearest-rank percentiles).
func Summarize(times []time.Duration) (Stats, error) {
	if len(times) == 0 {
		return Stats{}, errors.New("bench: no runs to summarise")
	}
	sorted := append([]time.Duration(nil), times...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	var sum time.Duration
	for _, t := range sorted {
		sum += t
	}
	return Stats{
		Runs: len(sorted),
		P50:  Percentile(sorted, 50),
		P90:  Percentile(sorted, 90),
		Min:  sorted[0],
		Max:  sorted[len(sorted)-1],
		Mean: sum / time.Duration(len(sorted)),
	}, nil
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted durations by the nearest-rank
// method: the smallest value with at least p% of the values at or below it.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}

// Interleave measures several functions round-robin: after each one's warm-up, run i times
// fns[0], fns[1], ... in turn, o.Runs times. Load from other processes that comes and goes
// then falls on every function alike, so their ratios hold even on a busy machine, which
// one-after-the-other measurement does not give. MaxTime bounds the total timed work.
func Interleave(o Options, fns []func() error) ([]Stats, error) {
	o = o.withDefaults()
	for i, fn := range fns {
		for w := 0; w < o.Warmup; w++ {
			if err := fn(); err != nil {
				return nil, fmt.Errorf("function %d: warm-up run %d: %w", i, w+1, err)
			}
		}
	}
	times := make([][]time.Duration, len(fns))
	var spent time.Duration
	for run := 0; run < o.Runs; run++ {
		for i, fn := range fns {
			start := time.Now()
			err := fn()
			d := time.Since(start)
			if err != nil {
				return nil, fmt.Errorf("function %d: run %d: %w", i, run+1, err)
			}
			times[i] = append(times[i], d)
			spent += d
		}
		if o.MaxTime > 0 && spent >= o.MaxTime && run >= 2 {
			break
		}
	}
	out := make([]Stats, len(fns))
	for i, t := range times {
		s, err := Summarize(t)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}
