package web

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/internal/recall/recalltest"
)

func TestLiveKeepsLatestResults(t *testing.T) {
	l := NewLive(LiveOptions{AnswersKept: 3})
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	f := func(seq uint64) FrameInfo { return FrameInfo{Seq: seq, Time: at.Add(time.Duration(seq) * time.Second)} }
	l.Labels("door", Labels{LabelSet: "people", Frame: f(1), Labels: []Label{{Label: "person", Score: 0.9}}})
	l.Labels("door", Labels{LabelSet: "pets", Frame: f(1), Labels: []Label{{Label: "cat", Score: 0.7}}})
	l.Labels("door", Labels{LabelSet: "people", Frame: f(2), Labels: []Label{{Label: "nobody", Score: 0.8}}})
	l.Caption("door", Caption{Frame: f(2), Caption: "a door"})
	for i := range 5 {
		l.Answer("door", Answer{Frame: f(3), Question: fmt.Sprint("q", i), Answer: "yes"})
	}
	cs := l.Camera("door")
	if cs.Name != "door" || cs.Frame == nil || cs.Frame.Seq != 3 {
		t.Fatalf("camera %+v; want frame 3", cs)
	}
	if len(cs.Labels) != 2 || cs.Labels[0].LabelSet != "people" || cs.Labels[0].Labels[0].Label != "nobody" || cs.Labels[1].Labels[0].Label != "cat" {
		t.Fatalf("labels %+v; want people (updated) then pets", cs.Labels)
	}
	if cs.Caption == nil || cs.Caption.Caption != "a door" {
		t.Fatalf("caption %+v", cs.Caption)
	}
	if len(cs.Answers) != 3 || cs.Answers[0].Question != "q4" || cs.Answers[2].Question != "q2" {
		t.Fatalf("answers %+v; want q4, q3, q2", cs.Answers)
	}
	// The returned state is a copy.
	cs.Labels[0].Labels[0].Label = "changed"
	if l.Camera("door").Labels[0].Labels[0].Label != "nobody" {
		t.Fatal("Camera returned the Live's own slices")
	}
	if empty := l.Camera("nowhere"); empty.Frame != nil || empty.Labels == nil || empty.Answers == nil {
		t.Fatalf("unknown camera %+v; want no frame and empty lists", empty)
	}
}

func TestLiveUpdates(t *testing.T) {
	l := NewLive(LiveOptions{Buffer: 4})
	ctx, cancel := context.WithCancel(context.Background())
	ch := l.Subscribe(ctx)
	l.Caption("a", Caption{Frame: FrameInfo{Seq: 5}, Caption: "x"})
	l.Caption("a", Caption{Frame: FrameInfo{Seq: 4}, Caption: "older frame"}) // no frame update
	l.Frame("a", FrameInfo{Seq: 5})                                           // not newer: nothing
	l.Frame("a", FrameInfo{Seq: 6})
	want := []struct {
		kind UpdateKind
		seq  uint64
	}{{UpdateFrame, 5}, {UpdateCaption, 5}, {UpdateCaption, 4}, {UpdateFrame, 6}}
	for i, w := range want {
		u := <-ch
		var seq uint64
		switch d := u.Data.(type) {
		case FrameInfo:
			seq = d.Seq
		case Caption:
			seq = d.Frame.Seq
		}
		if u.Kind != w.kind || u.Camera != "a" || seq != w.seq {
			t.Fatalf("update %d: %+v; want %s of frame %d", i, u, w.kind, w.seq)
		}
	}
	// A full subscriber misses updates, counted; feeding does not block.
	for i := range 10 {
		l.Answer("a", Answer{Frame: FrameInfo{Seq: 6}, Question: fmt.Sprint(i)})
	}
	if l.Missed() != 6 {
		t.Fatalf("missed %d; want 6 (10 updates, room for 4)", l.Missed())
	}
	cancel()
	for range ch { // drains, then the channel closes
	}
	if l.Subscribers() != 0 {
		t.Fatalf("%d subscribers after cancel", l.Subscribers())
	}
	l.Caption("a", Caption{Frame: FrameInfo{Seq: 7}}) // no subscriber: nothing to send to
}

func TestLiveConcurrent(t *testing.T) {
	l := NewLive(LiveOptions{})
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	for range 3 {
		ch := l.Subscribe(ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range ch {
			}
		}()
	}
	var feeders sync.WaitGroup
	for w := range 4 {
		feeders.Add(1)
		go func() {
			defer feeders.Done()
			cam := fmt.Sprint("cam", w)
			for seq := uint64(1); seq <= 300; seq++ {
				l.Labels(cam, Labels{LabelSet: "s", Frame: FrameInfo{Seq: seq}, Labels: []Label{{Label: "x", Score: 1}}})
				l.Camera(cam)
			}
		}()
	}
	feeders.Wait()
	cancel()
	wg.Wait()
	for w := range 4 {
		if cs := l.Camera(fmt.Sprint("cam", w)); cs.Frame.Seq != 300 {
			t.Fatalf("camera %d at frame %d", w, cs.Frame.Seq)
		}
	}
}

func TestFrameEncoder(t *testing.T) {
	ref, err := recalltest.Shapes()
	if err != nil {
		t.Fatal(err)
	}
	big := image.NewRGBA(image.Rect(0, 0, 1280, 720))
	e, err := NewFrameEncoder(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	f1, err := e.Encode("c", FrameInfo{Seq: 1}, big)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(f1.JPEG))
	if err != nil || cfg.Width != DefaultFrameWidth || cfg.Height != 360 {
		t.Fatalf("frame %dx%d (%v); want %dx360", cfg.Width, cfg.Height, err, DefaultFrameWidth)
	}
	// The same frame again comes from the cache: the picture is not read.
	again, err := e.Encode("c", FrameInfo{Seq: 1}, nil)
	if err != nil || &again.JPEG[0] != &f1.JPEG[0] {
		t.Fatalf("frame 1 encoded twice (%v)", err)
	}
	small := ref.Cases[0].Image
	f2, err := e.Encode("c", FrameInfo{Seq: 2}, small)
	if err != nil || f2.Seq != 2 {
		t.Fatal(err)
	}
	if cfg, _ := jpeg.DecodeConfig(bytes.NewReader(f2.JPEG)); cfg.Width != small.Bounds().Dx() {
		t.Fatalf("a small frame was resized to %d", cfg.Width)
	}
	if _, err := e.Encode("c", FrameInfo{Seq: 3}, image.NewRGBA(image.Rect(0, 0, 0, 0))); err == nil {
		t.Fatal("an empty picture encoded")
	}
	for _, tt := range []struct{ w, q int }{{-1, 80}, {640, 101}, {640, -5}} {
		if _, err := NewFrameEncoder(tt.w, tt.q); err == nil {
			t.Errorf("NewFrameEncoder(%d, %d) accepted", tt.w, tt.q)
		}
	}
}
