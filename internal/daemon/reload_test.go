package daemon

import (
	"strings"
	"testing"
	"time"
)

// Editing a label set file is picked up by the watcher: new labels are prepared and used,
// the old set's open events end, and the MQTT connection stays up throughout.
func TestReloadOnLabelSetChange(t *testing.T) {
	td := newTestDir(t)
	td.write("set.yaml", "name: s\nlabels: [x]\n")
	cfg := td.config(`  - name: cam
    source: {kind: synthetic, fps: 50}
    labels: {sets: [set.yaml], every: 10ms}
`)
	labeler := newTestLabeler()
	labeler.setScore("x", 0.9)
	r := startDaemon(t, cfg, &Models{Labeler: labeler}, Options{ReloadPoll: 10 * time.Millisecond})
	eventually(t, "x's event", func() bool { return r.rec.count(KindEvent) == 1 })
	eventually(t, "the MQTT connection", func() bool { return r.d.pub.Stats().Connected })

	td.write("set.yaml", "name: s\nlabels: [y, z]\n")
	eventually(t, "labels from the edited set", func() bool { return hasLabel(r.rec.of(KindLabels), "y") })
	evs := r.rec.of(KindEvent)
	if len(evs) != 2 || evs[1].Event.Type != "end" || evs[1].Event.Label != "x" {
		t.Errorf("events %v: want x's start, then its end when the set changed", evs)
	}
	if got := r.metric("reloads", "ok"); got != 1 {
		t.Errorf("edged_reloads_total{ok} = %v", got)
	}
	if s := r.d.pub.Stats(); s.Connects != 1 || !s.Connected {
		t.Errorf("publisher %+v: the reload must not reconnect", s)
	}
	labeler.mu.Lock()
	prepared := strings.Join(labeler.prepared, ",")
	labeler.mu.Unlock()
	if prepared != "s,s" {
		t.Errorf("prepared %q: want the set prepared at start and again after the edit", prepared)
	}
}

// A broken edit is reported with file and line and changes nothing; fixing it reloads.
func TestReloadKeepsRunningConfigOnError(t *testing.T) {
	td := newTestDir(t)
	td.write("set.yaml", "name: s\nlabels: [x]\n")
	cfg := td.config(`  - name: cam
    source: {kind: synthetic, fps: 50}
    labels: {sets: [set.yaml], every: 10ms}
`)
	r := startDaemon(t, cfg, &Models{Labeler: newTestLabeler()}, Options{ReloadPoll: 10 * time.Millisecond})
	td.write("set.yaml", "name: s\nlabels: [x]\nthreshold: 2\n")
	eventually(t, "the failed reload", func() bool { return r.metric("reloads", "error") == 1 })
	if log := r.logs.String(); !strings.Contains(log, "config reload failed") || !strings.Contains(log, "config.yaml:9: cameras[0].labels.sets[0]: label set") {
		t.Errorf("log does not say where the problem is:\n%s", log)
	}
	n := r.rec.count(KindLabels)
	eventually(t, "labels to go on", func() bool { return r.rec.count(KindLabels) > n+5 })
	if got := r.metric("reloads", "error"); got != 1 {
		t.Errorf("the broken file was tried %v times; want once until it changes", got)
	}
	td.write("set.yaml", "name: s\nlabels: [w]\n")
	eventually(t, "labels from the fixed set", func() bool { return hasLabel(r.rec.of(KindLabels), "w") })
}

// SIGHUP (Reload) applies new standing questions and schedules; changes that need a
// restart are named in a warning and not applied.
func TestReloadOnSIGHUP(t *testing.T) {
	td := newTestDir(t)
	cameras := `  - name: cam
    source: {kind: synthetic, fps: 50}
    questions: {every: 10ms, ask: ['first?']}
`
	cfg := td.config(cameras)
	r := startDaemon(t, cfg, &Models{Answerer: newTestAnswerer()}, Options{ReloadPoll: time.Hour})
	eventually(t, "an answer to the first question", func() bool { return r.rec.count(KindAnswer) > 0 })

	edited := strings.Replace(readFile(t, cfg), "first?", "second?", 1)
	edited = strings.Replace(edited, "device: test", "device: renamed", 1)
	td.write("config.yaml", edited)
	r.d.Reload()
	eventually(t, "answers to the new question", func() bool {
		as := r.rec.of(KindAnswer)
		return as[len(as)-1].Question == "second?"
	})
	// The MQTT client id follows the device by default, but as a default of the publisher:
	// the mqtt section itself did not change.
	if log := r.logs.String(); !strings.Contains(log, "need a restart were not applied") || !strings.Contains(log, "fields=device") {
		t.Errorf("no warning naming the ignored device change:\n%s", log)
	}
	if got := r.d.st.Load().cfg.Device; got != "test" {
		t.Errorf("device %q after reload; a device change needs a restart", got)
	}
}

func hasLabel(rs []*Result, label string) bool {
	for _, r := range rs {
		for _, l := range r.Labels {
			if l.Label == label {
				return true
			}
		}
	}
	return false
}

func TestApplyReload(t *testing.T) {
	parse := func(src string) *Config {
		t.Helper()
		dir := t.TempDir()
		c, err := ParseConfig([]byte(src), dir+"/c.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	old := parse("device: d\nmodels: {}\ncameras:\n  - name: a\n    source: {kind: synthetic}\n  - name: b\n    source: {kind: synthetic}\n")
	cases := []struct {
		name, src, ignored string
		check              func(*Config) bool
	}{
		{"schedules apply", "device: d\ncameras:\n  - name: a\n    source: {kind: synthetic}\n    snapshot: {on_events: true}\n  - name: b\n    source: {kind: synthetic}\n", "",
			func(c *Config) bool { return c.Cameras[0].Snapshot.OnEvents }},
		{"log level applies", "device: d\nlog_level: debug\ncameras:\n  - name: a\n    source: {kind: synthetic}\n  - name: b\n    source: {kind: synthetic}\n", "",
			func(c *Config) bool { return c.LogLevel == "debug" }},
		{"source needs a restart", "device: d\ncameras:\n  - name: a\n    source: {kind: synthetic, fps: 2}\n  - name: b\n    source: {kind: synthetic}\n", "cameras[0].source",
			func(c *Config) bool { return c.Cameras[0].Source.FPS == 5 }},
		{"camera removed and added", "device: d\ncameras:\n  - name: a\n    source: {kind: synthetic}\n  - name: c\n    source: {kind: synthetic}\n", `cameras ("b" removed), cameras ("c" added)`,
			func(c *Config) bool { return len(c.Cameras) == 2 && c.Cameras[1].Name == "b" }},
		{"mqtt and runtime need a restart", "device: d\nmqtt: {qos: 2}\nruntime: {threads: 3}\ncameras:\n  - name: a\n    source: {kind: synthetic}\n  - name: b\n    source: {kind: synthetic}\n", "mqtt, runtime",
			func(c *Config) bool { return c.MQTT.QoS == 0 && c.Runtime.Threads == 0 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			merged, ignored := applyReload(old, parse(c.src))
			if got := strings.Join(ignored, ", "); got != c.ignored {
				t.Errorf("ignored %q, want %q", got, c.ignored)
			}
			if !c.check(merged) {
				t.Errorf("merged config %+v", merged)
			}
		})
	}
	// A model that was not loaded at start cannot be switched on by a reload.
	dir := t.TempDir()
	withModel := strings.Replace("device: d\nmodels: {blip_caption: M}\ncameras:\n  - name: a\n    source: {kind: synthetic}\n    caption: {every: 1s}\n  - name: b\n    source: {kind: synthetic}\n", "M", dir, 1)
	merged, ignored := applyReload(old, parse(withModel))
	if merged.Cameras[0].Caption.Every != 0 || !strings.Contains(strings.Join(ignored, ","), "models.blip_caption") {
		t.Errorf("captions switched on without a loaded model: %+v, ignored %v", merged.Cameras[0].Caption, ignored)
	}
	// The ITM model is loaded only if the config at start used it: a reload cannot start
	// ranking captions or checking events by it, but may while it is loaded.
	captioned := strings.Replace("device: d\nmodels: {blip_caption: M, blip_itm: M}\ncameras:\n  - name: a\n    source: {kind: synthetic}\n    caption: {every: 1s}\n  - name: b\n    source: {kind: synthetic}\n", "M", dir, -1)
	ranked := strings.Replace(captioned, "caption: {every: 1s}", "caption: {every: 1s, candidates: 3}", 1)
	merged, ignored = applyReload(parse(captioned), parse(ranked))
	if merged.Cameras[0].Caption.Candidates != 1 || !strings.Contains(strings.Join(ignored, ","), "cameras[0].caption.rank") {
		t.Errorf("captions ranked by an ITM model not loaded at start: %+v, ignored %v", merged.Cameras[0].Caption, ignored)
	}
	moreRanked := strings.Replace(captioned, "caption: {every: 1s}", "caption: {every: 1s, candidates: 5}", 1)
	merged, ignored = applyReload(parse(ranked), parse(moreRanked))
	if merged.Cameras[0].Caption.Candidates != 5 || len(ignored) != 0 {
		t.Errorf("ranking with the loaded ITM model: %+v, ignored %v", merged.Cameras[0].Caption, ignored)
	}
}
