package daemon

import (
	"bytes"
	"image"
	"image/jpeg"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/camera"
	"github.com/edged/edged/clip"
)

func TestConsoleLines(t *testing.T) {
	// A synthetic frame's truth, as the synthetic camera annotates a red circle on black.
	one := map[string]string{
		camera.TruthLabels:  "red circle",
		camera.TruthCaption: "a red circle on a black background",
		camera.TruthAnswerKey("how many shapes are there"): "one",
	}
	t0 := time.Date(2026, 1, 1, 12, 0, 1, 0, time.Local)
	cases := []struct {
		r    Result
		want string
	}{
		{Result{Kind: KindLabels, Camera: "demo", Frame: FrameInfo{Seq: 57, Annotations: one}, LabelSet: "shapes",
			Labels: []clip.Score{{Label: "red circle", Score: 0.971}, {Label: "red square", Score: 0.02}}},
			"12:00:01 demo labels   red circle 0.97, red square 0.02 (shapes; frame 57, truth: red circle)"},
		{Result{Kind: KindCaption, Camera: "demo", Frame: FrameInfo{Seq: 80, Annotations: one}, Latency: 84 * time.Millisecond, Text: "a red circle on a black background"},
			`12:00:01 demo caption  "a red circle on a black background" (84 ms; frame 80, truth: "a red circle on a black background")`},
		{Result{Kind: KindCaption, Camera: "demo", Frame: FrameInfo{Seq: 81, Annotations: one}, Latency: 95 * time.Millisecond, Text: "a red circle on a black background",
			CaptionRank: &CaptionRank{By: "itm", Score: 0.987}},
			`12:00:01 demo caption  "a red circle on a black background" (itm 0.99, 95 ms; frame 81, truth: "a red circle on a black background")`},
		{Result{Kind: KindAnswer, Camera: "demo", Frame: FrameInfo{Seq: 105, Annotations: one}, Latency: 40 * time.Millisecond, Question: "How many shapes are there?", Text: "one"},
			"12:00:01 demo answer   How many shapes are there? → one (40 ms; frame 105, truth: one)"},
		{Result{Kind: KindAnswer, Camera: "door", Frame: FrameInfo{Seq: 3}, Latency: 40 * time.Millisecond, Question: "is it open?", Text: "no", Asked: true, RequestID: "7"},
			"12:00:01 door answer   is it open? → no (40 ms; request 7, asked, frame 3)"},
		{Result{Kind: KindEvent, Camera: "demo", Event: &Event{Type: "start", Label: "red circle", Score: 0.97}},
			"12:00:01 demo event    start red circle 0.97"},
		{Result{Kind: KindEvent, Camera: "demo", Event: &Event{Type: "end", Label: "red circle", TopScore: 0.99, Start: t0, End: t0.Add(4200 * time.Millisecond)}},
			"12:00:01 demo event    end   red circle (lasted 4.2s, top 0.99)"},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		con := newConsole(&buf)
		con.now = func() time.Time { return t0 }
		con.Result(&c.r)
		if got := strings.TrimSuffix(buf.String(), "\n"); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}

// A snapshot is a JPEG no wider than the camera's snapshot.max_width; the shrinking itself is
// recall.Thumbnail's (tested there).
func TestSnapshotJPEG(t *testing.T) {
	big := image.NewRGBA(image.Rect(0, 0, 320, 240))
	data, err := encodeSnapshot(big, 100, 80)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil || img.Bounds().Dx() != 100 || img.Bounds().Dy() != 75 {
		t.Fatalf("snapshot %v, %v: want a 100x75 JPEG", img.Bounds(), err)
	}
	if _, err := encodeSnapshot(image.NewRGBA(image.Rectangle{}), 100, 80); err == nil {
		t.Error("an empty picture gave a snapshot")
	}
}

func TestLoadStateErrors(t *testing.T) {
	td := newTestDir(t)
	td.write("a.yaml", "name: same\nlabels: [x]\n")
	td.write("b.yaml", "name: same\nlabels: [y]\n")
	cfg := td.config(`  - name: cam
    source: {kind: synthetic}
    labels: {sets: [a.yaml, b.yaml], every: 1s}
`)
	_, err := loadState(cfg)
	if err == nil || !strings.Contains(err.Error(), `config.yaml:9: cameras[0].labels.sets[1]: camera "cam" already has a label set named "same"`) {
		t.Errorf("duplicate set names: %v", err)
	}
	td.config(`  - name: cam
    source: {kind: synthetic}
    labels: {sets: [a.yaml], every: 1s}
  - name: cam2
    source: {kind: synthetic}
    labels: {sets: [a.yaml], every: 1s}
`)
	st, err := loadState(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.sets["cam"][0] != st.sets["cam2"][0] || len(st.files) != 2 {
		t.Errorf("a set named by two cameras should be read once; files %v", st.files)
	}
}
