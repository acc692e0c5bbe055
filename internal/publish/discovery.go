package publish

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Camera is what Home Assistant discovery announces for one camera: sensors for its top
// label, caption and last answer, a binary_sensor per event label, and a camera entity for
// its snapshots when it publishes them.
type Camera struct {
	Name        string
	EventLabels []string // labels whose start/end events the daemon publishes
	Snapshots   bool
}

func (c Camera) validate() error {
	if err := checkTopicLevel(c.Name); err != nil {
		return fmt.Errorf("publish: camera name %v", err)
	}
	for _, l := range c.EventLabels {
		if strings.TrimSpace(l) == "" {
			return fmt.Errorf("publish: camera %q: empty event label", c.Name)
		}
	}
	return nil
}

// discoveryConfig is one Home Assistant MQTT discovery config; field names are Home
// Assistant's (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery).
type discoveryConfig struct {
	UniqueID            string                  `json:"unique_id"`
	ObjectID            string                  `json:"object_id"`
	Name                string                  `json:"name"`
	Icon                string                  `json:"icon,omitempty"`
	StateTopic          string                  `json:"state_topic,omitempty"`
	Topic               string                  `json:"topic,omitempty"` // camera entities use topic
	ValueTemplate       string                  `json:"value_template,omitempty"`
	JSONAttributesTopic string                  `json:"json_attributes_topic,omitempty"`
	PayloadOn           string                  `json:"payload_on,omitempty"`
	PayloadOff          string                  `json:"payload_off,omitempty"`
	Availability        []discoveryAvailability `json:"availability"`
	AvailabilityMode    string                  `json:"availability_mode"`
	QoS                 int                     `json:"qos"`
	Device              discoveryDevice         `json:"device"`
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

// Availability payloads. "stopped" (clean shutdown) maps to unavailable in Home Assistant
// through the availability template. A camera's own topic says online or offline.
const (
	availableOnline  = "online"
	availableStopped = "stopped"
	availableOffline = "offline"
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
	base := func(camera, component, id, name, icon string) (string, discoveryConfig) {
		uid := objectID(o.Device) + "_" + id
		topic := o.HomeAssistant.DiscoveryPrefix + "/" + component + "/" + uid + "/config"
		return topic, discoveryConfig{
			UniqueID: uid,
			ObjectID: uid,
			Name:     name,
			Icon:     icon,
			Availability: []discoveryAvailability{
				{Topic: topics.Available(), ValueTemplate: "{{ 'online' if value == 'online' else 'offline' }}",
					PayloadAvailable: availableOnline, PayloadNotAvailable: availableOffline},
				{Topic: topics.CameraAvailable(camera), PayloadAvailable: availableOnline, PayloadNotAvailable: availableOffline},
			},
			AvailabilityMode: "all",
			QoS:              o.QoS,
			Device:           device,
		}
	}
	out := make(map[string][]byte)
	add := func(topic string, c discoveryConfig) error {
		data, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("publish: discovery config %s: %w", topic, err)
		}
		out[topic] = data
		return nil
	}
	for _, cam := range cameras {
		camID := objectID(cam.Name)
		// Home Assistant keeps at most 255 characters of a state.
		sensors := []struct{ kind, name, icon, topic, template string }{
			{"label", "label", "mdi:tag", topics.Labels(cam.Name),
				"{{ value_json.labels[0].label if value_json.labels else '' }}"},
			{"caption", "caption", "mdi:text-box-outline", topics.Caption(cam.Name),
				"{{ value_json.caption[:255] }}"},
			{"answer", "answer", "mdi:comment-question-outline", topics.Answer(cam.Name),
				"{{ (value_json.answer if value_json.answer is defined else 'error: ' ~ value_json.error)[:255] }}"},
		}
		for _, s := range sensors {
			topic, c := base(cam.Name, "sensor", camID+"_"+s.kind, cam.Name+" "+s.name, s.icon)
			c.StateTopic, c.ValueTemplate, c.JSONAttributesTopic = s.topic, s.template, s.topic
			if err := add(topic, c); err != nil {
				return nil, err
			}
		}
		for _, label := range cam.EventLabels {
			quoted, err := json.Marshal(label) // a JSON string is a valid Jinja string literal
			if err != nil {
				return nil, fmt.Errorf("publish: event label %q: %w", label, err)
			}
			topic, c := base(cam.Name, "binary_sensor", camID+"_event_"+objectID(label), cam.Name+" "+label, "mdi:eye")
			c.StateTopic = topics.Events(cam.Name)
			c.JSONAttributesTopic = topics.Events(cam.Name)
			// Events of other labels render "", which Home Assistant ignores.
			c.ValueTemplate = fmt.Sprintf("{%% if value_json.label == %s %%}{{ 'ON' if value_json.type == 'start' else 'OFF' }}{%% endif %%}", quoted)
			c.PayloadOn, c.PayloadOff = "ON", "OFF"
			if err := add(topic, c); err != nil {
				return nil, err
			}
		}
		if cam.Snapshots {
			topic, c := base(cam.Name, "camera", camID+"_snapshot", cam.Name+" snapshot", "")
			c.Topic = topics.Snapshot(cam.Name)
			if err := add(topic, c); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// objectID turns a name into the characters Home Assistant allows in ids: [a-zA-Z0-9_-],
// everything else becomes '_'.
func objectID(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
}
