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
	descCalibrationWaitingMemory = prometheus.NewDesc("edged_calibration_waiting_for_memory",
		"1 while the model's conversion to full int8 waits for memory: it does not fit in runtime.memory_limit beside what is loaded now; 0 otherwise.", []string{"model"}, nil)
	descShadowMemoryDrops = prometheus.NewDesc("edged_shadow_memory_drops_total",
		"Batches of shadow checks dropped because the safe model did not fit in runtime.memory_limit beside what was loaded then, by model.", []string{"model"}, nil)
	descShadowChecks = prometheus.NewDesc("edged_shadow_checks_total",
		"Shadow checks of a full-int8 model against the safe precision on a camera frame, by model.", []string{"model"}, nil)
	descShadowFallbacks = prometheus.NewDesc("edged_shadow_fallbacks_total",
		"Times the shadow checks' running agreement failed the fidelity gate's bars and the safe model took over, by model.", []string{"model"}, nil)
	descShadowAgreement = prometheus.NewDesc("edged_shadow_agreement",
		"Running agreement of the full-int8 model with the safe one over the last shadow checks (window checks of window_size): mean_cosine, worst_cosine, top1 (share of the same top-1 labels), text (BLIP: share of identical captions or answers), window.", []string{"model", "measure"}, nil)
)

func (c calibrationCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descFullInt8
	ch <- descCalibrations
	ch <- descCalibrationFrames
	ch <- descCalibrationWaitingMemory
	ch <- descShadowMemoryDrops
	ch <- descShadowChecks
	ch <- descShadowFallbacks
	ch <- descShadowAgreement
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
		waiting := 0.0
		if cal.State == calWaitingMemory {
			waiting = 1
		}
		ch <- prometheus.MustNewConstMetric(descCalibrationWaitingMemory, prometheus.GaugeValue, waiting, f)
		if sh := cal.Shadow; sh != nil {
			ch <- prometheus.MustNewConstMetric(descShadowChecks, prometheus.CounterValue, float64(sh.Checks), f)
			ch <- prometheus.MustNewConstMetric(descShadowFallbacks, prometheus.CounterValue, float64(sh.Fallbacks), f)
			ch <- prometheus.MustNewConstMetric(descShadowMemoryDrops, prometheus.CounterValue, float64(sh.MemoryDrops), f)
			for measure, v := range map[string]float64{"mean_cosine": sh.MeanCosine, "worst_cosine": sh.WorstCosine,
				"top1": sh.Top1Agreement, "window": float64(sh.Window)} {
				ch <- prometheus.MustNewConstMetric(descShadowAgreement, prometheus.GaugeValue, v, f, measure)
			}
			if sh.TextAgreement != nil {
				ch <- prometheus.MustNewConstMetric(descShadowAgreement, prometheus.GaugeValue, *sh.TextAgreement, f, "text")
			}
		}
	}
}
