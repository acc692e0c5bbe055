package daemon

import (
	"errors"
	"log/slog"
	"slices"

	"github.com/edged/edged/internal/publish"
)

// publisherOptions maps the config's mqtt section onto the publisher's options.
func publisherOptions(cfg *Config, st *state, version string) publish.Options {
	m := cfg.MQTT
	return publish.Options{
		Broker:       m.Broker,
		Listen:       m.Listen,
		Embedded:     cfg.brokerConfig(),
		ClientID:     m.ClientID,
		Username:     m.Username,
		Password:     m.Password,
		PasswordFile: cfg.Resolve(m.PasswordFile),
		TLS: publish.TLSFiles{
			CA: cfg.Resolve(m.TLS.CA), Cert: cfg.Resolve(m.TLS.Cert), Key: cfg.Resolve(m.TLS.Key),
			InsecureSkipVerify: m.TLS.InsecureSkipVerify,
		},
		QoS:           m.QoS,
		TopicPrefix:   m.TopicPrefix,
		Device:        cfg.Device,
		Retain:        publish.Retain{Labels: m.Retain.Labels, Caption: m.Retain.Caption, Answer: m.Retain.Answer},
		QueueSize:     m.QueueSize,
		MaxAskBytes:   m.MaxAskBytes,
		ReplyPrefixes: m.ReplyPrefixes,
		HomeAssistant: publish.HomeAssistant{Enabled: m.HomeAssistant.Enabled, DiscoveryPrefix: m.HomeAssistant.DiscoveryPrefix},
		Cameras:       discoveryCameras(st),
		StateDir:      stateDir(cfg),
		Model:         "edged",
		SWVersion:     version,
	}
}

// discoveryCameras is what Home Assistant is told about each camera: its label sets, the
// labels that can have events, whether it is captioned, its standing questions and whether it
// sends snapshots.
func discoveryCameras(st *state) []publish.Camera {
	var cams []publish.Camera
	for _, c := range st.cfg.Cameras {
		pc := publish.Camera{Name: c.Name, Snapshots: c.Snapshot.OnEvents, Captions: c.Caption.Every > 0}
		if c.Questions.Every > 0 {
			pc.Questions = slices.Clone(c.Questions.Ask)
		}
		seen := map[string]bool{}
		for _, set := range st.sets[c.Name] {
			pc.LabelSets = append(pc.LabelSets, set.Name)
			for _, l := range set.Labels {
				if !seen[l.Name] {
					seen[l.Name] = true
					pc.EventLabels = append(pc.EventLabels, l.Name)
				}
			}
		}
		cams = append(cams, pc)
	}
	return cams
}

// stateDir is where the publisher writes down what it announced: the cache folder ("" when
// there is none; the record then lives in memory only).
func stateDir(cfg *Config) string {
	dir, err := cacheDir(cfg)
	if err != nil {
		return ""
	}
	return dir
}

// mqttSink publishes results. The publisher queues them (bounded, oldest dropped first), so
// this never waits for the network.
type mqttSink struct {
	pub  *publish.Publisher
	log  *slog.Logger
	errs errorLog
}

func (m *mqttSink) Result(r *Result) {
	ts := publish.Timestamp(r.Frame.Time)
	var err error
	switch r.Kind {
	case KindLabels:
		labels := make([]publish.Label, len(r.Labels))
		for i, l := range r.Labels {
			labels[i] = publish.Label{Label: l.Label, Score: l.Score, Share: &l.Share}
		}
		err = m.pub.PublishLabels(r.Camera, publish.Labels{Ts: ts, Frame: r.Frame.Seq, LabelSet: r.LabelSet, Labels: labels})
	case KindEvent:
		e := r.Event
		pe := publish.Event{Type: e.Type, ID: e.ID, Label: e.Label, LabelSet: e.LabelSet, Score: e.Score,
			TopScore: e.TopScore, StartTs: publish.Timestamp(e.Start), EndTs: publish.Timestamp(e.End)}
		if e.Check != nil {
			confirmed, score := e.Check.Confirmed, e.Check.Score
			pe.Confirmed, pe.ITMScore = &confirmed, &score
		}
		err = m.pub.PublishEvent(r.Camera, pe)
	case KindCaption:
		c := publish.Caption{Ts: ts, Frame: r.Frame.Seq, Caption: r.Text, LatencyMs: float64(r.Latency.Microseconds()) / 1000}
		if rk := r.CaptionRank; rk != nil {
			score := rk.Score
			c.Score, c.Rank = &score, rk.By
			for _, ru := range rk.RunnersUp {
				c.RunnersUp = append(c.RunnersUp, publish.CaptionCandidate{Caption: ru.Text, Score: ru.Score})
			}
		}
		err = m.pub.PublishCaption(r.Camera, c)
	case KindAnswer:
		if r.Asked {
			return // the publisher sends the ask handler's answer itself (and to reply_to)
		}
		err = m.pub.PublishAnswer(r.Camera, publish.Answer{Ts: ts, Frame: r.Frame.Seq, Question: r.Question, Answer: r.Text})
	case KindSnapshot:
		err = m.pub.PublishSnapshot(r.Camera, r.JPEG)
	}
	if err != nil && !errors.Is(err, publish.ErrClosed) {
		m.errs.report(m.log, "cannot publish a result", err, "camera", r.Camera, "kind", r.Kind)
	}
}
