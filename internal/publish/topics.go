package publish

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Topics is the topic layout of one device: <prefix>/<device>/...
type Topics struct {
	Prefix string
	Device string
}

// Available is the device's availability topic: online, stopped or offline.
func (t Topics) Available() string { return t.Prefix + "/" + t.Device + "/available" }

// CameraAvailable is a camera's availability topic: online while it delivers frames,
// offline otherwise (retained). It means something only while the device's Available says
// online.
func (t Topics) CameraAvailable(camera string) string { return t.camera(camera, "available") }

// Labels is where a camera's zero-shot labels go.
func (t Topics) Labels(camera string) string { return t.camera(camera, "labels") }

// Events is where a camera's label start/end events go.
func (t Topics) Events(camera string) string { return t.camera(camera, "events") }

// LabelState is where a label's state on a camera is kept (retained): ON while an event of
// the label is open. The last level is the label's objectID.
func (t Topics) LabelState(camera, label string) string {
	return t.camera(camera, "state/"+objectID(label))
}

// LabelSetState is where the labels of a set present on a camera (their events open) are
// kept (retained). The last level is the set name's objectID.
func (t Topics) LabelSetState(camera, set string) string {
	return t.camera(camera, "labels/"+objectID(set))
}

// StandingAnswer is where the last answer to one standing question of a camera is kept
// (retained). The last level is the question's objectID.
func (t Topics) StandingAnswer(camera, question string) string {
	return t.camera(camera, "answer/"+objectID(question))
}

// Caption is where a camera's captions go.
func (t Topics) Caption(camera string) string { return t.camera(camera, "caption") }

// Answer is where answers to a camera's questions (and ask errors) go.
func (t Topics) Answer(camera string) string { return t.camera(camera, "answer") }

// Snapshot is where a camera's JPEG snapshots go.
func (t Topics) Snapshot(camera string) string { return t.camera(camera, "snapshot") }

// Reply is the level under which answers may go when a request's reply_to asks for it:
// <prefix>/<device>/reply/... (only edged publishes there).
func (t Topics) Reply() string { return t.Prefix + "/" + t.Device + "/reply" }

// Ask is the topic a camera's questions arrive on.
func (t Topics) Ask(camera string) string { return t.camera(camera, "ask") }

// askFilter subscribes to the ask topic of every camera at once.
func (t Topics) askFilter() string { return t.camera("+", "ask") }

// cameraOfAsk returns the camera level of an ask topic, or "" when the topic is not one.
func (t Topics) cameraOfAsk(topic string) string {
	base := t.Prefix + "/" + t.Device + "/"
	rest, ok := strings.CutPrefix(topic, base)
	if !ok {
		return ""
	}
	camera, ok := strings.CutSuffix(rest, "/ask")
	if !ok || strings.Contains(camera, "/") {
		return ""
	}
	return camera
}

func (t Topics) camera(camera, kind string) string {
	return t.Prefix + "/" + t.Device + "/" + camera + "/" + kind
}

// checkTopicLevel accepts a single, non-empty topic level (a device or camera name).
func checkTopicLevel(s string) error {
	if s == "" {
		return errors.New("is empty")
	}
	if strings.Contains(s, "/") {
		return fmt.Errorf("%q contains '/', which would add topic levels", s)
	}
	return checkTopicName(s)
}

// checkTopicName accepts a topic one may publish to: non-empty UTF-8, no wildcards, no NUL,
// not a broker-reserved $ topic, at most 65535 bytes (MQTT's string limit).
func checkTopicName(s string) error {
	switch {
	case s == "":
		return errors.New("is empty")
	case len(s) > 65535:
		return fmt.Errorf("is %d bytes, over MQTT's 65535", len(s))
	case !utf8.ValidString(s):
		return errors.New("is not valid UTF-8")
	case strings.ContainsAny(s, "+#"):
		return fmt.Errorf("%q contains an MQTT wildcard ('+' or '#')", s)
	case strings.ContainsRune(s, 0):
		return fmt.Errorf("%q contains a NUL character", s)
	case strings.HasPrefix(s, "$"):
		return fmt.Errorf("%q starts with '$', reserved for the broker", s)
	}
	return nil
}
