package daemon_test

import (
	"bytes"
	"encoding/json"
	"image/png"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged/edged/internal/mqtttest"
	"github.com/edged/edged/internal/publish"
	"github.com/edged/edged/internal/shapes"
)

// A label set of one label scores the probability that the frame shows the label, not 1:
// edged run with the shapes CLIP on a folder camera of one picture (a red circle) publishes
// "red circle" above its threshold and "blue square" below it, each a set of its own, and an
// event for the red circle only; `edged classify` gives the same scores for the same picture
// (the same model, contrast and text embeddings; tolerance 1e-4 for the interpreters' thread
// counts).
func TestE2EOneLabelSetsScoreWhatTheFrameShows(t *testing.T) {
	m := mqtttest.StartBroker(t)
	dir := t.TempDir()
	root := repoRoot(t)
	scene := shapes.Scene{Background: "gray", Objects: []shapes.Object{{Color: "red", Shape: "circle", X: 0.5, Y: 0.5, Size: 0.25}}}
	img, err := shapes.Render(scene, 320, 240, shapes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	picture := writeFile(t, dir, "pictures/red.png", buf.String())
	writeFile(t, dir, "labels/red.yaml", "name: red\nlabels: [red circle]\n")
	writeFile(t, dir, "labels/blue.yaml", "name: blue\nlabels: [blue square]\n")
	cfg := e2eConfig(t, dir, m.URL(), mqtttest.FreePort(t), "models:\n  clip: "+filepath.Join(root, "models/shapes/clip")+"\nruntime: {threads: 1}",
		`  - name: album
    source: {kind: folder, path: pictures, fps: 5, loop: true}
    labels: {sets: [labels/red.yaml, labels/blue.yaml], every: 200ms}
`)
	box, _ := subscriber(t, m.URL(), "", true, "edged/e2e/#")
	startEdged(t, dir, cfg)
	daemon := map[string]float64{}
	deadlineWait(t, "labels of both sets", func() bool {
		for _, msg := range box.On("edged/e2e/album/labels") {
			l := decode[labelsPayload](t, msg)
			if len(l.Labels) != 1 {
				t.Fatalf("a set of one label published %d labels", len(l.Labels))
			}
			daemon[l.Labels[0].Label] = l.Labels[0].Score
		}
		return len(daemon) == 2
	})
	if daemon["red circle"] < 0.5 || daemon["blue square"] >= 0.5 {
		t.Errorf("a red circle's frame: red circle %.4f, blue square %.4f; want above and below 0.5", daemon["red circle"], daemon["blue square"])
	}
	ev := box.WaitOn(t, "edged/e2e/album/events", "the red circle's event", nil)
	if !strings.Contains(ev.Payload, `"label":"red circle"`) || !strings.Contains(ev.Payload, `"label_set":"red"`) {
		t.Errorf("event %s, want the red circle's, of set red", ev.Payload)
	}
	// Each label's state on a topic of its own (Home Assistant's binary sensors), retained.
	tp := publish.Topics{Prefix: "edged", Device: "e2e"}
	box.WaitOn(t, tp.LabelState("album", "red circle"), "the red circle ON", func(m mqtttest.Message) bool { return strings.Contains(m.Payload, `"state":"ON"`) })
	box.WaitOn(t, tp.LabelState("album", "blue square"), "the blue square OFF", func(m mqtttest.Message) bool { return strings.Contains(m.Payload, `"state":"OFF"`) })
	box.WaitOn(t, tp.LabelSetState("album", "red"), "set red with the red circle present", func(m mqtttest.Message) bool {
		return strings.Contains(m.Payload, `"labels":["red circle"]`)
	})

	cmd := exec.Command(edged(t), "classify", "--model", filepath.Join(root, "models/shapes/clip"), "--cache", filepath.Join(dir, "cache", "models"),
		"--threads", "1", "--json", "--label", "red circle", "--label", "blue square", picture)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("edged classify: %v\n%s", err, stderr.String())
	}
	var res struct {
		Labels []struct {
			Label string  `json:"label"`
			Score float64 `json:"score"`
		} `json:"labels"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("edged classify printed %s: %v", out, err)
	}
	for _, l := range res.Labels {
		if d := math.Abs(l.Score - daemon[l.Label]); d > 1e-4 {
			t.Errorf("%s: edged classify %.6f, edged run %.6f", l.Label, l.Score, daemon[l.Label])
		}
	}
	t.Logf("edged run: %v; edged classify: %+v", daemon, res.Labels)
	for _, msg := range box.On("edged/e2e/album/events") {
		if strings.Contains(msg.Payload, "blue square") {
			t.Errorf("an event for the blue square on a red circle's frame: %s", msg.Payload)
		}
	}
}
