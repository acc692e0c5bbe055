package publish

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// Retained states: what Home Assistant's entities and late subscribers read as "now". A label's
// state (LabelState), the labels of a set present (LabelSetState) and the last answer to each
// standing question (StandingAnswer) are published retained when they change, and again after
// every connection (the broker may have lost them). Every event label starts OFF and every set
// with nothing present when edged starts, so a sensor left ON by a crash is put right. The
// retained topics and discovery configs edged announced are written down (Options.StateDir),
// so that those of cameras, labels, sets or questions removed while edged was stopped are
// cleared at the next start.

// RecordFile is the file in Options.StateDir that lists the retained topics and Home
// Assistant discovery configs edged announced.
const RecordFile = "mqtt-announced.json"

// record is RecordFile's content.
type record struct {
	Configs  []string `json:"configs"`
	Retained []string `json:"retained"`
}

// loadRecord reads what an earlier run announced; found is false when there is no record
// (the first run, or no StateDir).
func loadRecord(dir string) (r record, found bool, err error) {
	if dir == "" {
		return record{}, false, nil
	}
	data, err := os.ReadFile(filepath.Join(dir, RecordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return record{}, false, nil
	}
	if err != nil {
		return record{}, false, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return record{}, false, fmt.Errorf("%s: %w", filepath.Join(dir, RecordFile), err)
	}
	return r, true, nil
}

// writeRecord replaces the record in dir atomically.
func writeRecord(dir string, r record) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+RecordFile+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, RecordFile))
}

// retainedTopics are the retained topics edged keeps for the cameras: each camera's
// availability and snapshot, each event label's state, each set's present labels and each
// standing question's answer.
func retainedTopics(t Topics, cameras []Camera) map[string]bool {
	out := map[string]bool{}
	for _, c := range cameras {
		out[t.CameraAvailable(c.Name)] = true
		if c.Snapshots {
			out[t.Snapshot(c.Name)] = true
		}
		for _, l := range c.EventLabels {
			out[t.LabelState(c.Name, l)] = true
		}
		for _, s := range c.LabelSets {
			out[t.LabelSetState(c.Name, s)] = true
		}
		for _, q := range c.Questions {
			out[t.StandingAnswer(c.Name, q)] = true
		}
	}
	return out
}

// setState queues a retained state when it differs from the last one of its topic. Callers
// hold p.mu.
func (p *Publisher) setStateLocked(topic string, v any) error {
	payload, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("publish: state %s: %w", topic, err)
	}
	if last, ok := p.states[topic]; ok && string(last) == string(payload) {
		return nil
	}
	p.states[topic] = payload
	return p.enqueue(topic, payload, true)
}

// initialStatesLocked gives every event label of cameras a state (OFF) and every set one
// (nothing present) unless it has one, and clears the retained topics of what the cameras
// had before (was) and no longer have (through the queue, after whatever was queued for
// them). Callers hold p.mu.
func (p *Publisher) initialStatesLocked(was, cameras []Camera) error {
	var errs []error
	for _, c := range cameras {
		for _, l := range c.EventLabels {
			if _, ok := p.states[p.topics.LabelState(c.Name, l)]; !ok {
				errs = append(errs, p.setStateLocked(p.topics.LabelState(c.Name, l), LabelState{State: LabelOff, Label: l}))
			}
		}
		for _, s := range c.LabelSets {
			if _, ok := p.states[p.topics.LabelSetState(c.Name, s)]; !ok {
				errs = append(errs, p.setStateLocked(p.topics.LabelSetState(c.Name, s), LabelSetState{LabelSet: s, Labels: []string{}}))
			}
		}
	}
	keep := retainedTopics(p.topics, cameras)
	gone := retainedTopics(p.topics, was)
	for topic := range p.states {
		gone[topic] = true
	}
	for _, topic := range slices.Sorted(maps.Keys(gone)) {
		if !keep[topic] {
			delete(p.states, topic)
			errs = append(errs, p.enqueue(topic, []byte{}, true))
		}
	}
	return errors.Join(errs...)
}

// labelEvent updates the label's state, and its set's present labels, for an event. Callers
// hold p.mu.
func (p *Publisher) labelEventLocked(camera string, e Event) error {
	st := LabelState{State: LabelOff, Label: e.Label, LabelSet: e.LabelSet, EventID: e.ID, Since: e.EndTs,
		Score: &e.Score, TopScore: &e.TopScore, Confirmed: e.Confirmed, ITMScore: e.ITMScore}
	if e.Type == EventStart {
		st.State, st.Since = LabelOn, e.StartTs
	}
	err := p.setStateLocked(p.topics.LabelState(camera, e.Label), st)
	if e.LabelSet == "" {
		return err
	}
	key := camera + "\x00" + e.LabelSet
	present := p.present[key]
	if present == nil {
		present = map[string]bool{}
		p.present[key] = present
	}
	if e.Type == EventStart {
		present[e.Label] = true
	} else {
		delete(present, e.Label)
	}
	labels := slices.Sorted(maps.Keys(present))
	if labels == nil {
		labels = []string{}
	}
	return errors.Join(err, p.setStateLocked(p.topics.LabelSetState(camera, e.LabelSet), LabelSetState{LabelSet: e.LabelSet, Labels: labels}))
}

// standingAnswerLocked keeps the answer to a standing question of the camera. Callers hold
// p.mu.
func (p *Publisher) standingAnswerLocked(camera string, a Answer) error {
	for _, c := range p.cameras {
		if c.Name == camera && slices.Contains(c.Questions, a.Question) {
			return p.setStateLocked(p.topics.StandingAnswer(camera, a.Question), StandingAnswer{Question: a.Question, Answer: a.Answer})
		}
	}
	return nil
}

// tidy runs at the first connection: it clears the discovery configs and retained topics an
// earlier run announced that this one does not (cameras, labels, sets or questions removed
// while edged was stopped), and, when there is no record of an earlier run, the configs
// edged made before it kept one.
func (p *Publisher) tidy(l *link, configs map[string][]byte) {
	p.mu.Lock()
	keep := retainedTopics(p.topics, p.cameras)
	cameras := slices.Clone(p.cameras)
	p.mu.Unlock()
	stale := map[string]bool{}
	for _, t := range p.record.Configs {
		stale[t] = true
	}
	if !p.recordFound && p.opts.HomeAssistant.Enabled {
		for _, t := range legacyConfigTopics(&p.opts, cameras) {
			stale[t] = true
		}
	}
	for _, t := range p.record.Retained {
		stale[t] = !keep[t]
	}
	for t := range configs {
		delete(stale, t)
	}
	for _, topic := range slices.Sorted(maps.Keys(stale)) {
		if !stale[topic] {
			continue
		}
		if err := p.await(l.client.Publish(topic, byte(p.opts.QoS), true, []byte{})); err != nil {
			p.log.Error("cannot clear what an earlier run announced", "topic", topic, "err", err)
			continue
		}
		p.log.Info("cleared what an earlier run announced", "topic", topic)
	}
}

// saveRecord writes down what this run announced.
func (p *Publisher) saveRecord() {
	p.mu.Lock()
	r := record{Configs: slices.Sorted(maps.Keys(p.announced)), Retained: slices.Sorted(maps.Keys(retainedTopics(p.topics, p.cameras)))}
	p.mu.Unlock()
	if err := writeRecord(p.opts.StateDir, r); err != nil {
		p.log.Warn("cannot write down what was announced (entities removed while edged is stopped will stay)", "err", err)
	}
}

// resendStates publishes every retained state again on a new connection.
func (p *Publisher) resendStates(l *link) {
	p.mu.Lock()
	states := maps.Clone(p.states)
	p.mu.Unlock()
	for _, topic := range slices.Sorted(maps.Keys(states)) {
		if err := p.await(l.client.Publish(topic, byte(p.opts.QoS), true, states[topic])); err != nil {
			p.log.Error("cannot publish a state", "topic", topic, "err", err)
		}
	}
}
