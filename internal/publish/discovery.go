package publish

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Camera is what Home Assistant discovery announces for one camera: a sensor per label set
// (the labels present), a binary_sensor per event label, a sensor for its captions and one per
// standing question, and a camera entity for its snapshots when it publishes them.
type Camera struct {
	Name        string
	LabelSets   []string // names of the camera's label sets
	EventLabels []string // labels whose start/end events the daemon publishes
	Questions   []string // standing questions, answered on a schedule
	Captions    bool     // the camera is captioned
	Snapshots   bool
}

func (c Camera) validate() error {
	if err := checkTopicLevel(c.Name); err != nil {
		return fmt.Errorf("publish: camera name %v", err)
	}
	for what, names := range map[string][]string{"event label": c.EventLabels, "label set name": c.LabelSets, "standing question": c.Questions} {
		for _, n := range names {
			if strings.TrimSpace(n) == "" {
				return fmt.Errorf("publish: camera %q: empty %s", c.Name, what)
			}
		}
	}
	return nil
}

// discoveryConfig is one Home Assistant MQTT discovery config; field names are Home
// Assistant's (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery).
type discoveryConfig struct {
	UniqueID string `json:"unique_id"`
	// DefaultEntityID is the entity id Home Assistant gives the entity when it first sees it
	// (replaces object_id, deprecated in 2025.10 and ignored from 2026.4).
	DefaultEntityID        string                  `json:"default_entity_id"`
	Name                   string                  `json:"name"`
	Icon                   string                  `json:"icon,omitempty"`
	StateTopic             string                  `json:"state_topic,omitempty"`
	Topic                  string                  `json:"topic,omitempty"` // camera entities use topic
	ValueTemplate          string                  `json:"value_template,omitempty"`
	JSONAttributesTopic    string                  `json:"json_attributes_topic,omitempty"`
	JSONAttributesTemplate string                  `json:"json_attributes_template,omitempty"`
	PayloadOn              string                  `json:"payload_on,omitempty"`
	PayloadOff             string                  `json:"payload_off,omitempty"`
	Availability           []discoveryAvailability `json:"availability"`
	AvailabilityMode       string                  `json:"availability_mode"`
	QoS                    int                     `json:"qos"`
	Device                 discoveryDevice         `json:"device"`
	Origin                 discoveryOrigin         `json:"o"`
}

// discoveryAvailability is one topic an entity's availability depends on.
type discoveryAvailability struct {
	Topic               string `json:"topic"`
	ValueTemplate       string `json:"value_template,omitempty"`
	PayloadAvailable    string `json:"payload_available"`
	PayloadNotAvailable string `json:"payload_not_available"`
}

type discoveryDevice struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Model        string   `json:"model"`
	Manufacturer string   `json:"manufacturer"`
	SWVersion    string   `json:"sw_version,omitempty"`
}

// discoveryOrigin names the program that published a config (Home Assistant logs it with
// the config, and shows it in the entity's MQTT info).
type discoveryOrigin struct {
	Name      string `json:"name"`
	SWVersion string `json:"sw,omitempty"`
}

// Availability payloads. "stopped" (clean shutdown) maps to unavailable in Home Assistant
// through the availability template. A camera's own topic says online or offline.
const (
	availableOnline  = "online"
	availableStopped = "stopped"
	availableOffline = "offline"
)

// Home Assistant keeps at most 255 characters of a state.
const (
	capState = "[:255]"
	// noState is what a sensor says when there is nothing to say: a state, not "" (which
	// Home Assistant stores as an empty state).
	noState = "none"
)

// discoveryConfigs returns every config topic and its retained payload for the cameras.
func discoveryConfigs(o *Options, topics Topics, cameras []Camera) (map[string][]byte, error) {
	device := discoveryDevice{
		Identifiers:  []string{"edged_" + objectID(o.Device)},
		Name:         o.Device,
		Model:        o.Model,
		Manufacturer: o.Manufacturer,
		SWVersion:    o.SWVersion,
	}
	// An entity of a camera is available while edged is online and the camera delivers frames.
	base := func(camera, component, uid, name, icon string) (string, discoveryConfig) {
		topic := o.HomeAssistant.DiscoveryPrefix + "/" + component + "/" + uid + "/config"
		return topic, discoveryConfig{
			UniqueID:        uid,
			DefaultEntityID: component + "." + entitySlug(uid),
			Name:            name,
			Icon:            icon,
			Availability: []discoveryAvailability{
				{Topic: topics.Available(), ValueTemplate: "{{ 'online' if value == 'online' else 'offline' }}",
					PayloadAvailable: availableOnline, PayloadNotAvailable: availableOffline},
				{Topic: topics.CameraAvailable(camera), PayloadAvailable: availableOnline, PayloadNotAvailable: availableOffline},
			},
			AvailabilityMode: "all",
			QoS:              o.QoS,
			Device:           device,
			Origin:           discoveryOrigin{Name: "edged", SWVersion: o.SWVersion},
		}
	}
	out := make(map[string][]byte)
	add := func(topic string, c discoveryConfig) error {
		if _, dup := out[topic]; dup {
			return fmt.Errorf("publish: two Home Assistant entities would share the id %s", c.UniqueID)
		}
		data, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("publish: discovery config %s: %w", topic, err)
		}
		out[topic] = data
		return nil
	}
	for _, cam := range cameras {
		id := func(kind string, name ...string) string {
			parts := []string{objectID(o.Device), objectID(cam.Name), kind}
			for _, n := range name {
				parts = append(parts, objectID(n))
			}
			return strings.Join(parts, "_")
		}
		// Every state below changes only when what it says changes: timestamps, frame
		// numbers and scores stay on the MQTT topics, out of the attributes Home Assistant
		// records.
		for _, set := range cam.LabelSets {
			topic, c := base(cam.Name, "sensor", id("labels", set), cam.Name+" "+set, "mdi:tag")
			c.StateTopic = topics.LabelSetState(cam.Name, set)
			c.ValueTemplate = "{{ (value_json.labels | join(', ') if value_json.labels else '" + noState + "')" + capState + " }}"
			c.JSONAttributesTopic = c.StateTopic
			if err := add(topic, c); err != nil {
				return nil, err
			}
		}
		for _, label := range cam.EventLabels {
			topic, c := base(cam.Name, "binary_sensor", id("event", label), cam.Name+" "+label, "mdi:eye")
			c.StateTopic = topics.LabelState(cam.Name, label)
			c.ValueTemplate = "{{ value_json.state }}"
			c.JSONAttributesTopic = c.StateTopic
			c.PayloadOn, c.PayloadOff = LabelOn, LabelOff
			if err := add(topic, c); err != nil {
				return nil, err
			}
		}
		if cam.Captions {
			topic, c := base(cam.Name, "sensor", id("caption"), cam.Name+" caption", "mdi:text-box-outline")
			c.StateTopic = topics.Caption(cam.Name)
			c.ValueTemplate = "{{ (value_json.caption or '" + noState + "')" + capState + " }}"
			if err := add(topic, c); err != nil {
				return nil, err
			}
		}
		for _, q := range cam.Questions {
			topic, c := base(cam.Name, "sensor", id("answer", q), cam.Name+" "+q, "mdi:comment-question-outline")
			c.StateTopic = topics.StandingAnswer(cam.Name, q)
			c.ValueTemplate = "{{ (value_json.answer or '" + noState + "')" + capState + " }}"
			c.JSONAttributesTopic = c.StateTopic
			if err := add(topic, c); err != nil {
				return nil, err
			}
		}
		if cam.Snapshots {
			topic, c := base(cam.Name, "camera", id("snapshot"), cam.Name+" snapshot", "")
			c.Topic = topics.Snapshot(cam.Name)
			if err := add(topic, c); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// objectID is a name in the characters Home Assistant allows in ids and edged in its state
// topics' last level ([a-zA-Z0-9_-]): the name itself when it has only those; otherwise its
// ASCII letters and digits (at most maxIDBase), each run of other characters as one '_', and
// a short hash of the name as written. A name always gets the same id, and names that differ get different ids:
// "red_circle" is red_circle, "red circle" red_circle_9c7a41e2, and "猫" and "狗" are two
// hashes.
func objectID(name string) string {
	if name != "" && len(name) <= maxIDBase && strings.IndexFunc(name, func(r rune) bool { return !idRune(r) }) < 0 {
		return name
	}
	var b strings.Builder
	gap := false
	for _, r := range name {
		if idRune(r) && r != '_' {
			if gap && b.Len() > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			gap = false
			continue
		}
		gap = true
	}
	sum := sha256.Sum256([]byte(name))
	hash := hex.EncodeToString(sum[:4])
	base := strings.TrimRight(b.String()[:min(b.Len(), maxIDBase)], "_")
	if base == "" {
		return hash
	}
	return base + "_" + hash
}

// maxIDBase bounds the readable part of an id (a standing question may be long); longer
// names are cut and told apart by the hash.
const maxIDBase = 48

func idRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}

// entitySlug is an id as the object part of a Home Assistant entity id: lower case, '-' as
// '_'.
func entitySlug(id string) string {
	return strings.ReplaceAll(strings.ToLower(id), "-", "_")
}

// legacyObjectID is how edged before issue 20 made ids: every character outside
// [a-zA-Z0-9_-] became '_', so distinct names could share an id.
func legacyObjectID(s string) string {
	return strings.Map(func(r rune) rune {
		if idRune(r) {
			return r
		}
		return '_'
	}, s)
}

// legacyConfigTopics are the config topics edged before issue 20 announced for the cameras:
// a sensor for the top label and one for the last answer, and ids made by legacyObjectID.
// The first start without a record of what was announced clears those that are not announced
// any more.
func legacyConfigTopics(o *Options, cameras []Camera) []string {
	prefix := o.HomeAssistant.DiscoveryPrefix + "/"
	dev := legacyObjectID(o.Device)
	var out []string
	for _, cam := range cameras {
		c := dev + "_" + legacyObjectID(cam.Name)
		for _, kind := range []string{"label", "caption", "answer"} {
			out = append(out, prefix+"sensor/"+c+"_"+kind+"/config")
		}
		for _, l := range cam.EventLabels {
			out = append(out, prefix+"binary_sensor/"+c+"_event_"+legacyObjectID(l)+"/config")
		}
		out = append(out, prefix+"camera/"+c+"_snapshot/config")
	}
	return out
}
