package publish

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
)

// Ids are made once, as written, and stay apart: a name of Home Assistant's characters is
// its own id; any other name gets its letters and digits and a hash of the name.
func TestObjectIDsAreUniqueAndStable(t *testing.T) {
	for name, want := range map[string]string{
		"red_circle":                 "red_circle",
		"red circle":                 "red_circle_2eb730c7",
		"pi-4":                       "pi-4",
		"Front-Door":                 "Front-Door",
		"猫":                          "a810bf84",
		"狗":                          "cecd675a",
		"how many shapes are there?": "how_many_shapes_are_there_5ff754c5",
	} {
		if got := objectID(name); got != want {
			t.Errorf("objectID(%q) = %q, want %q", name, got, want)
		}
	}
	long := strings.Repeat("what colour is it ", 10)
	if id := objectID(long); len(id) > maxIDBase+9 || id == objectID(long+"?") {
		t.Errorf("a long question's id %q (%d bytes), the same question with '?' %q", id, len(id), objectID(long+"?"))
	}
}

func TestDiscoveryConfigs(t *testing.T) {
	o := Options{Device: "pi-4", QoS: 1, SWVersion: "1.2.3"}.withDefaults()
	topics := Topics{Prefix: o.TopicPrefix, Device: o.Device}
	cam := Camera{Name: "front door", LabelSets: []string{"people"}, EventLabels: []string{"person", "red circle", "red_circle", "猫", "狗"},
		Questions: []string{"is the door open?", "how many people?"}, Captions: true, Snapshots: true}
	configs, err := discoveryConfigs(&o, topics, []Camera{cam})
	if err != nil {
		t.Fatal(err)
	}
	door := "pi-4_" + objectID("front door")
	wantTopics := []string{
		"homeassistant/binary_sensor/" + door + "_event_" + objectID("狗") + "/config",
		"homeassistant/binary_sensor/" + door + "_event_" + objectID("猫") + "/config",
		"homeassistant/binary_sensor/" + door + "_event_person/config",
		"homeassistant/binary_sensor/" + door + "_event_red_circle/config",
		"homeassistant/binary_sensor/" + door + "_event_red_circle_2eb730c7/config",
		"homeassistant/camera/" + door + "_snapshot/config",
		"homeassistant/sensor/" + door + "_answer_" + objectID("how many people?") + "/config",
		"homeassistant/sensor/" + door + "_answer_" + objectID("is the door open?") + "/config",
		"homeassistant/sensor/" + door + "_caption/config",
		"homeassistant/sensor/" + door + "_labels_people/config",
	}
	slices.Sort(wantTopics)
	if got := slices.Sorted(maps.Keys(configs)); !slices.Equal(got, wantTopics) {
		t.Fatalf("config topics:\n got %q\nwant %q", got, wantTopics)
	}
	decode := func(topic string) map[string]any {
		t.Helper()
		var c map[string]any
		if err := json.Unmarshal(configs[topic], &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for topic := range configs {
		c := decode(topic)
		component := strings.Split(topic, "/")[1]
		// object_id is deprecated (Home Assistant 2025.10) and ignored from 2026.4; the
		// default entity id is the domain and a lower-case id.
		if _, ok := c["object_id"]; ok {
			t.Errorf("%s still has object_id", topic)
		}
		if id := c["default_entity_id"].(string); id != component+"."+entitySlug(c["unique_id"].(string)) || id != strings.ToLower(id) || strings.Contains(id, "-") {
			t.Errorf("%s: default_entity_id %q for unique_id %v", topic, id, c["unique_id"])
		}
		if origin, _ := c["o"].(map[string]any); origin["name"] != "edged" || origin["sw"] != "1.2.3" {
			t.Errorf("%s: origin %v", topic, c["o"])
		}
		// No template renders an empty state.
		if tpl, _ := c["value_template"].(string); component == "sensor" && !strings.Contains(tpl, "'"+noState+"'") {
			t.Errorf("%s: template %q has no state for nothing", topic, tpl)
		}
		// Attributes come only from the retained states, which change with what they say.
		if a, ok := c["json_attributes_topic"].(string); ok && !strings.Contains(a, "/state/") && !strings.Contains(a, "/labels/") && !strings.Contains(a, "/answer/") {
			t.Errorf("%s takes its attributes from %s, which changes with every result", topic, a)
		}
	}

	// A label's binary sensor reads its own retained state, named as written.
	red := decode("homeassistant/binary_sensor/" + door + "_event_red_circle_2eb730c7/config")
	if red["name"] != "front door red circle" || red["state_topic"] != "edged/pi-4/front door/state/red_circle_2eb730c7" ||
		red["json_attributes_topic"] != red["state_topic"] || red["value_template"] != "{{ value_json.state }}" ||
		red["payload_on"] != "ON" || red["payload_off"] != "OFF" || red["default_entity_id"] != "binary_sensor.pi_4_front_door_7279998f_event_red_circle_2eb730c7" {
		t.Errorf("red circle's binary sensor: %v", red)
	}
	// One sensor per standing question, each on its own topic.
	q := decode("homeassistant/sensor/" + door + "_answer_" + objectID("is the door open?") + "/config")
	if q["name"] != "front door is the door open?" || q["state_topic"] != topics.StandingAnswer("front door", "is the door open?") {
		t.Errorf("standing question's sensor: %v", q)
	}
	set := decode("homeassistant/sensor/" + door + "_labels_people/config")
	if set["state_topic"] != "edged/pi-4/front door/labels/people" {
		t.Errorf("label set's sensor: %v", set)
	}

	// Available while edged is online and the camera delivers frames.
	avail, _ := set["availability"].([]any)
	if len(avail) != 2 {
		t.Fatalf("availability = %v, want the device's and the camera's topics", set["availability"])
	}
	for i, topic := range []string{"edged/pi-4/available", "edged/pi-4/front door/available"} {
		a, _ := avail[i].(map[string]any)
		if a["topic"] != topic || a["payload_available"] != "online" || a["payload_not_available"] != "offline" {
			t.Errorf("availability[%d] = %v, want topic %s, online/offline", i, a, topic)
		}
	}
	dev, _ := set["device"].(map[string]any)
	if dev["name"] != "pi-4" || dev["manufacturer"] != "edged" || dev["model"] != "edged" || dev["sw_version"] != "1.2.3" {
		t.Errorf("device = %v", dev)
	}
	if ids, _ := dev["identifiers"].([]any); len(ids) != 1 || ids[0] != "edged_pi-4" {
		t.Errorf("device identifiers = %v", dev["identifiers"])
	}
}
