package daemon

import "github.com/prometheus/client_golang/prometheus"

// calibrationCollector reports, at scrape time, the precision each model runs at and where
// calibrating on the cameras' frames stands (the preparation's statuses, as /healthz shows).
type calibrationCollector struct{ prep func() *preparation }

var (
	descFullInt8 = prometheus.NewDesc("edged_model_full_int8",
		"1 when the model runs at full int8 (calibrated), 0 at another precision.", []string{"model"}, nil)
	descCalibrations = prometheus.NewDesc("edged_calibration_conversions_total",
		"Conversions to full int8 on the cameras' frames, by model and result (passed, refused by the fidelity gate, failed).", []string{"model", "result"}, nil)
	descCalibrationFrames = prometheus.NewDesc("edged_calibration_frames",
		"Frames kept to calibrate and check a safe-precision model on, by model.", []string{"model"}, nil)
)

func (c calibrationCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descFullInt8
	ch <- descCalibrations
	ch <- descCalibrationFrames
}

func (c calibrationCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.prep()
	if p == nil {
		return
	}
	statuses, order := p.snapshot()
	for _, f := range order {
		s := statuses[f]
		if s.Precision != "" {
			v := 0.0
			if s.Precision == precisionInt8 {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descFullInt8, prometheus.GaugeValue, v, f)
		}
		cal := s.Calibration
		if cal == nil {
			continue
		}
		passed := 0
		if cal.State == calCalibrated {
			passed = 1
		}
		for result, n := range map[string]int{"passed": passed, "refused": cal.Refused, "failed": cal.Failed} {
			ch <- prometheus.MustNewConstMetric(descCalibrations, prometheus.CounterValue, float64(n), f, result)
		}
		ch <- prometheus.MustNewConstMetric(descCalibrationFrames, prometheus.GaugeValue, float64(cal.Frames), f)
	}
}
