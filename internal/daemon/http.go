package daemon

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edged/edged/camera"
)

func (d *Daemon) metricsHandler() http.Handler {
	return promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{})
}

// Health is the /healthz document. Status is "ok" (HTTP 200) when every model is ready and
// their last runs succeeded, the MQTT connection is up and every camera delivers frames;
// otherwise "starting", "preparing" (models being pulled, converted or loaded, or waiting for
// the hub, while the features whose models are ready run), "degraded" or "stopping" (HTTP
// 503), and Problems says why.
type Health struct {
	Status   string                  `json:"status"`
	Problems []string                `json:"problems,omitempty"`
	Uptime   float64                 `json:"uptime_s"`
	MQTT     HealthMQTT              `json:"mqtt"`
	Cameras  map[string]HealthCamera `json:"cameras"`
	// Models are the models the config names, by key (clip, blip_caption, ...).
	Models map[string]ModelStatus `json:"models,omitempty"`
}

// HealthMQTT is the publisher's state.
type HealthMQTT struct {
	Connected bool   `json:"connected"`
	Queued    int    `json:"queued"`
	LastError string `json:"last_error,omitempty"`
}

// HealthCamera is one camera's state: camera.State (connecting, streaming, stalled,
// failed, ended, stopped) since when, its counters, its newest frame and last error.
type HealthCamera struct {
	State      string  `json:"state"`
	Since      string  `json:"since"` // RFC 3339
	Captured   uint64  `json:"captured"`
	Dropped    uint64  `json:"dropped"`
	Reconnects uint64  `json:"reconnects"`
	Stalls     uint64  `json:"stalls"`
	LastFrame  string  `json:"last_frame,omitempty"` // RFC 3339, the newest frame's capture time
	FrameAge   float64 `json:"frame_age_s,omitempty"`
	LastError  string  `json:"last_error,omitempty"`
}

// healthCamera is a camera's part of /healthz.
func healthCamera(s camera.Stats, now time.Time) HealthCamera {
	hc := HealthCamera{State: string(s.State), Since: s.Since.UTC().Format(time.RFC3339Nano), Captured: s.Captured,
		Dropped: s.Dropped, Reconnects: s.Reconnects, Stalls: s.Stalls}
	if !s.LastFrameAt.IsZero() {
		hc.LastFrame = s.LastFrameAt.UTC().Format(time.RFC3339Nano)
		hc.FrameAge = now.Sub(s.LastFrameAt).Seconds()
	}
	if s.LastError != nil {
		hc.LastError = s.LastError.Error()
	}
	return hc
}

func (d *Daemon) health() Health {
	h := Health{Status: "ok", Cameras: map[string]HealthCamera{}}
	if !d.started.IsZero() {
		h.Uptime = time.Since(d.started).Seconds()
	}
	ps := d.pub.Stats()
	h.MQTT = HealthMQTT{Connected: ps.Connected, Queued: ps.Queued, LastError: ps.LastError}
	if !ps.Connected {
		h.Problems = append(h.Problems, "mqtt: not connected: "+ps.LastError)
	}
	names := []string{}
	now := time.Now()
	for name, s := range d.cameraStats() {
		h.Cameras[name] = healthCamera(s, now)
		if s.State != camera.StateStreaming {
			names = append(names, name)
		}
	}
	h.Problems = append(h.Problems, d.metrics.modelProblems()...)
	sort.Strings(names)
	for _, n := range names {
		msg := "camera " + n + ": " + h.Cameras[n].State
		if e := h.Cameras[n].LastError; e != "" {
			msg += ": " + e
		}
		h.Problems = append(h.Problems, msg)
	}
	var preparing []string
	if d.prep != nil {
		h.Models, _ = d.prep.snapshot()
		var failed []string
		preparing, failed = d.prep.problems()
		h.Problems = append(append(preparing, failed...), h.Problems...)
	}
	switch {
	case d.stopping.Load():
		h.Status = "stopping"
	case !d.ready.Load():
		h.Status = "starting"
	case len(preparing) > 0:
		h.Status = "preparing"
	case len(h.Problems) > 0:
		h.Status = "degraded"
	}
	return h
}

func (d *Daemon) healthz(w http.ResponseWriter, _ *http.Request) {
	h := d.health()
	w.Header().Set("Content-Type", "application/json")
	if h.Status != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(h)
}
