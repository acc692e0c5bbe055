package daemon

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/edged/edged/camera"
	"github.com/edged/edged/internal/publish"
	"github.com/edged/edged/internal/web"
)

// Model names in the edged_inference_seconds histogram.
const (
	modelCLIPImage   = "clip_image"   // one image embedding
	modelCLIPText    = "clip_text"    // preparing a label set's text embeddings
	modelBLIPCaption = "blip_caption" // one caption
	modelBLIPVQA     = "blip_vqa"     // one answer
	modelBLIPITM     = "blip_itm"     // one image-text match (an event's check, a search's re-rank)
)

// Reasons a scheduled job is skipped, in edged_jobs_skipped_total.
const (
	skipBusy      = "busy"       // the camera's previous job of this kind is still queued or running
	skipNoFrame   = "no_frame"   // the camera has not delivered a frame yet
	skipSameFrame = "same_frame" // no new frame since the last job of this kind
	skipStill     = "still"      // the motion gate saw no change
	skipStale     = "stale"      // the newest frame is older than the camera's max_frame_age
	skipFull      = "queue_full" // the lane's queue was full (should not happen; see lane)
)

// metrics are the daemon's Prometheus metrics, on their own registry (no globals).
type metrics struct {
	latMu      sync.Mutex
	latency    map[string]*web.ModelHealth // for the live page
	failing    map[string]string           // model -> its last run's error, while it fails (for /healthz)
	reg        *prometheus.Registry
	framesUsed *prometheus.CounterVec
	jobs       *prometheus.CounterVec
	skipped    *prometheus.CounterVec
	inference  *prometheus.HistogramVec
	events     *prometheus.CounterVec
	reloads    *prometheus.CounterVec
	workers    *prometheus.GaugeVec
	// modelUnloads and modelReload count the models closed while idle and time their
	// reloads (models.idle_unload).
	modelUnloads *prometheus.CounterVec
	modelReload  *prometheus.HistogramVec
}

// statsSource gives the counters kept elsewhere (cameras, publisher) at scrape time.
type statsSource struct {
	cameras   func() map[string]camera.Stats
	publisher func() publish.Stats
}

func newMetrics(src statsSource) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		framesUsed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_frames_used_total", Help: "Frames taken from a camera for inference.",
		}, []string{"camera"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_jobs_total", Help: "Inference jobs run, by camera, kind and result (ok or error).",
		}, []string{"camera", "kind", "result"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_jobs_skipped_total", Help: "Scheduled jobs not run, by camera, kind and reason (busy, no_frame, same_frame, still, stale, queue_full).",
		}, []string{"camera", "kind", "reason"}),
		inference: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edged_inference_seconds",
			Help:    "Inference latency by model (clip_image, clip_text, blip_caption, blip_vqa).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1 ms .. 33 s
		}, []string{"model"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_events_total", Help: "Label events, by camera and type (start or end).",
		}, []string{"camera", "type"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_reloads_total", Help: "Configuration reloads, by result (ok or error).",
		}, []string{"result"}),
		workers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edged_workers", Help: "Inference workers per lane (labels, blip).",
		}, []string{"lane"}),
		modelUnloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_model_unloads_total", Help: "Models closed after models.idle_unload without use, by model (blip_vqa, blip_itm, clip_text: CLIP's text tower).",
		}, []string{"model"}),
		modelReload: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edged_model_reload_seconds",
			Help:    "Time to load an unloaded model again on its next use, by model.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12), // 10 ms .. 20 s
		}, []string{"model"}),
	}
	m.reg.MustRegister(m.framesUsed, m.jobs, m.skipped, m.inference, m.events, m.reloads, m.workers, m.modelUnloads, m.modelReload,
		&externalCollector{src: src},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe records a run of a model: its latency, and whether it failed. A model whose last
// run failed is a problem /healthz reports until a run succeeds (a model that computes NaN
// fails every run). A run cancelled from outside (shutdown, an asker gone) says nothing
// about the model.
func (m *metrics) observe(model string, d time.Duration, err error) {
	m.inference.WithLabelValues(model).Observe(d.Seconds())
	ms := float64(d.Microseconds()) / 1000
	m.latMu.Lock()
	defer m.latMu.Unlock()
	switch {
	case err == nil:
		delete(m.failing, model)
	case !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
		if m.failing == nil {
			m.failing = map[string]string{}
		}
		m.failing[model] = err.Error()
	}
	if m.latency == nil {
		m.latency = map[string]*web.ModelHealth{}
	}
	h := m.latency[model]
	if h == nil {
		h = &web.ModelHealth{Model: model}
		m.latency[model] = h
	}
	h.MeanMs = (h.MeanMs*float64(h.Count) + ms) / float64(h.Count+1)
	h.Count++
	h.LastMs = ms
}

// modelHealth is each model's latency so far, for the live page.
func (m *metrics) modelHealth() []web.ModelHealth {
	m.latMu.Lock()
	defer m.latMu.Unlock()
	var out []web.ModelHealth
	for _, name := range []string{modelCLIPImage, modelCLIPText, modelBLIPCaption, modelBLIPVQA, modelBLIPITM} {
		if h := m.latency[name]; h != nil {
			out = append(out, *h)
		}
	}
	return out
}

// modelProblems are the models whose last run failed, with its error, sorted by model.
func (m *metrics) modelProblems() []string {
	m.latMu.Lock()
	defer m.latMu.Unlock()
	var out []string
	for _, model := range slices.Sorted(maps.Keys(m.failing)) {
		out = append(out, "model "+model+": "+m.failing[model])
	}
	return out
}

func (m *metrics) skip(cam string, k Kind, reason string) {
	m.skipped.WithLabelValues(cam, string(k), reason).Inc()
}

func (m *metrics) job(cam string, k Kind, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.jobs.WithLabelValues(cam, string(k), result).Inc()
}

// externalCollector turns the cameras' and the publisher's own counters into metrics when
// Prometheus scrapes, so there is one source of truth for each number.
type externalCollector struct{ src statsSource }

var (
	descCaptured   = prometheus.NewDesc("edged_frames_captured_total", "Frames a camera delivered.", []string{"camera"}, nil)
	descDropped    = prometheus.NewDesc("edged_frames_dropped_total", "Frames a newer one replaced before inference took them (the latest frame wins).", []string{"camera"}, nil)
	descCamErrors  = prometheus.NewDesc("edged_camera_errors_total", "Camera failures: opens and reads that failed, frames skipped.", []string{"camera"}, nil)
	descReconnects = prometheus.NewDesc("edged_camera_reconnects_total", "Attempts to reopen a failed camera.", []string{"camera"}, nil)
	descCamUp      = prometheus.NewDesc("edged_camera_up", "1 while a camera delivers frames.", []string{"camera"}, nil)
	descCamState   = prometheus.NewDesc("edged_camera_state", "1 for the state a camera is in (connecting, streaming, stalled, failed, ended, stopped), 0 for the others.", []string{"camera", "state"}, nil)
	descStalls     = prometheus.NewDesc("edged_camera_stalls_total", "Connections that stopped sending frames without closing (stalls detected by read_timeout).", []string{"camera"}, nil)
	descFrameAge   = prometheus.NewDesc("edged_camera_frame_age_seconds", "Age of a camera's newest frame.", []string{"camera"}, nil)
	descPublished  = prometheus.NewDesc("edged_mqtt_published_total", "MQTT messages the broker accepted.", nil, nil)
	descFailed     = prometheus.NewDesc("edged_mqtt_failed_total", "MQTT messages given up after repeated publish errors.", nil, nil)
	descQueued     = prometheus.NewDesc("edged_mqtt_queued", "MQTT messages waiting to be sent.", nil, nil)
	descMQDropped  = prometheus.NewDesc("edged_mqtt_dropped_total", "MQTT results dropped from a full offline queue.", nil, nil)
	descRepDropped = prometheus.NewDesc("edged_mqtt_replies_dropped_total", "Answers to ask and search requests dropped from their own full queue.", nil, nil)
	descAskErrors  = prometheus.NewDesc("edged_mqtt_ask_errors_total", "Ask requests answered with an error.", nil, nil)
	descConnected  = prometheus.NewDesc("edged_mqtt_connected", "1 while connected to the MQTT broker.", nil, nil)
	descConnects   = prometheus.NewDesc("edged_mqtt_connects_total", "Successful connections to the MQTT broker.", nil, nil)
	descBrokerDrop = prometheus.NewDesc("edged_broker_dropped_total", "Messages the embedded broker did not deliver to subscribers too slow to take them.", nil, nil)
)

func (c *externalCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCaptured, descDropped, descCamErrors, descReconnects, descCamUp, descCamState, descStalls, descFrameAge,
		descPublished, descFailed, descQueued, descMQDropped, descRepDropped, descAskErrors, descConnected, descConnects, descBrokerDrop} {
		ch <- d
	}
}

func (c *externalCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for name, s := range c.src.cameras() {
		counter(descCaptured, s.Captured, name)
		counter(descDropped, s.Dropped, name)
		counter(descCamErrors, s.Errors, name)
		counter(descReconnects, s.Reconnects, name)
		gauge(descCamUp, boolFloat(s.State == camera.StateStreaming), name)
		counter(descStalls, s.Stalls, name)
		for _, st := range cameraStates {
			gauge(descCamState, boolFloat(s.State == st), name, string(st))
		}
		if !s.LastFrameAt.IsZero() {
			gauge(descFrameAge, time.Since(s.LastFrameAt).Seconds(), name)
		}
	}
	s := c.src.publisher()
	counter(descPublished, s.Published)
	counter(descFailed, s.Failed)
	gauge(descQueued, float64(s.Queued))
	counter(descMQDropped, s.Dropped)
	counter(descRepDropped, s.RepliesDropped)
	counter(descAskErrors, s.AskErrors)
	gauge(descConnected, boolFloat(s.Connected))
	counter(descConnects, s.Connects)
	counter(descBrokerDrop, s.BrokerDropped)
}

// cameraStates are the states edged_camera_state reports (not idle: Run has started by the
// time anyone scrapes).
var cameraStates = []camera.State{camera.StateConnecting, camera.StateStreaming, camera.StateStalled,
	camera.StateFailed, camera.StateEnded, camera.StateStopped}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
