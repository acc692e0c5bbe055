package convert

import "github.com/edged/edged/quant"

// NewObserverFunc returns the constructor of the calibration observer called name
// (Options.Observer: ObserverMinMax, ObserverPercentile or ObserverMovingAverage), for
// architectures that run their own calibration loop with NewCalibrator (BLIP calibrates its
// vision tower and the decoder's cross-attention keys and values on the same images).
func NewObserverFunc(name string) (func() quant.Observer, error) { return newObserver(name) }
