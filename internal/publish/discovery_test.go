package publish

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestDiscoveryConfigs(t *testing.T) {
	o := Options{Device: "pi-4", QoS: 1, SWVersion: "1.2.3"}.withDefaults()
	topics := Topics{Prefix: o.TopicPrefix, Device: o.Device}
	configs, err := discoveryConfigs(&o, topics, []Camera{{Name: "front door", EventLabels: []string{"person", `it's "x"`}, Snapshots: true}})
	if err != nil {
		t.Fatal(err)
	}
	wantTopics := []string{
		"homeassistant/binary_sensor/pi-4_front_door_event_it_s__x_/config",
		"homeassistant/binary_sensor/pi-4_front_door_event_person/config",
		"homeassistant/camera/pi-4_front_door_snapshot/config",
		"homeassistant/sensor/pi-4_front_door_answer/config",
		"homeassistant/sensor/pi-4_front_door_caption/config",
		"homeassistant/sensor/pi-4_front_door_label/config",
	}
	var got []string
	for topic := range configs {
		got = append(got, topic)
	}
	slices.Sort(got)
	if !slices.Equal(got, wantTopics) {
		t.Fatalf("config topics:\n got %q\nwant %q", got, wantTopics)
	}

	var label map[string]any
	if err := json.Unmarshal(configs["homeassistant/sensor/pi-4_front_door_label/config"], &label); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"unique_id":             "pi-4_front_door_label",
		"state_topic":           "edged/pi-4/front door/labels",
		"json_attributes_topic": "edged/pi-4/front door/labels",
		"availability_mode":     "all",
		"name":                  "front door label",
		"qos":                   1.0,
	}
	for k, v := range want {
		if label[k] != v {
			t.Errorf("label sensor %s = %v, want %v", k, label[k], v)
		}
	}
	if label["value_template"] == "" {
		t.Errorf("label sensor lacks its template: %v", label)
	}
	// Available while edged is online and the camera delivers frames.
	avail, _ := label["availability"].([]any)
	if len(avail) != 2 {
		t.Fatalf("availability = %v, want the device's and the camera's topics", label["availability"])
	}
	for i, topic := range []string{"edged/pi-4/available", "edged/pi-4/front door/available"} {
		a, _ := avail[i].(map[string]any)
		if a["topic"] != topic || a["payload_available"] != "online" || a["payload_not_available"] != "offline" {
			t.Errorf("availability[%d] = %v, want topic %s, online/offline", i, a, topic)
		}
	}
	if a, _ := avail[0].(map[string]any); a["value_template"] == "" {
		t.Errorf("the device's availability needs its template (stopped is offline): %v", a)
	}
	dev, _ := label["device"].(map[string]any)
	if dev["name"] != "pi-4" || dev["manufacturer"] != "edged" || dev["model"] != "edged" || dev["sw_version"] != "1.2.3" {
		t.Errorf("device = %v", dev)
	}
	if ids, _ := dev["identifiers"].([]any); len(ids) != 1 || ids[0] != "edged_pi-4" {
		t.Errorf("device identifiers = %v", dev["identifiers"])
	}

	var person map[string]any
	if err := json.Unmarshal(configs["homeassistant/binary_sensor/pi-4_front_door_event_person/config"], &person); err != nil {
		t.Fatal(err)
	}
	if person["state_topic"] != "edged/pi-4/front door/events" || person["payload_on"] != "ON" {
		t.Errorf("person binary sensor = %v", person)
	}
	const tmpl = `{% if value_json.label == "person" %}{{ 'ON' if value_json.type == 'start' else 'OFF' }}{% endif %}`
	if person["value_template"] != tmpl {
		t.Errorf("person template = %v, want %s", person["value_template"], tmpl)
	}
}
