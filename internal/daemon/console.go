package daemon

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/edged/edged/camera"
)

// console prints one readable line per result, so that whoever starts edged sees at once
// what it sees:
//
//	12:00:01 demo labels   red circle 0.97, red square 0.02, blue circle 0.00 (shapes; frame 57, truth: red circle)
//	12:00:05 demo caption  "a red circle on a black background" (84 ms; frame 80, truth: "a red circle on a black background")
//	12:00:06 demo caption  "a red circle on a black background" (itm 0.99, 95 ms; frame 81, truth: "a red circle on a black background")
//	12:00:10 demo answer   how many shapes are there? → one (40 ms; frame 105, truth: one)
//
// Synthetic frames know what they show, so their lines end with the truth. Logs go to
// stderr; these lines are the program's output, on stdout.
type console struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

func newConsole(w io.Writer) *console { return &console{w: w, now: time.Now} }

func (c *console) Result(r *Result) {
	line := formatResult(r)
	if line == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.w, "%s %s %-8s %s\n", c.now().Format("15:04:05"), r.Camera, r.Kind, line)
}

// formatResult is the part of a console line after the time, camera and kind.
func formatResult(r *Result) string {
	ms := fmt.Sprintf("%d ms", r.Latency.Milliseconds())
	switch r.Kind {
	case KindLabels:
		parts := make([]string, len(r.Labels))
		for i, l := range r.Labels {
			parts[i] = fmt.Sprintf("%s %.2f", l.Label, l.Score)
		}
		return fmt.Sprintf("%s (%s; %s)", strings.Join(parts, ", "), r.LabelSet, frameNote(r.Frame, r.Frame.Annotations[camera.TruthLabels]))
	case KindCaption:
		truth := ""
		if c, ok := r.Frame.Annotations[camera.TruthCaption]; ok {
			truth = fmt.Sprintf("%q", c)
		}
		if rk := r.CaptionRank; rk != nil {
			ms = fmt.Sprintf("%s %.2f, %s", rk.By, rk.Score, ms)
		}
		return fmt.Sprintf("%q (%s; %s)", r.Text, ms, frameNote(r.Frame, truth))
	case KindAnswer:
		note := frameNote(r.Frame, r.Frame.Annotations[camera.TruthAnswerKey(r.Question)])
		if r.Asked {
			note = "asked, " + note
			if r.RequestID != "" {
				note = "request " + r.RequestID + ", " + note
			}
		}
		return fmt.Sprintf("%s → %s (%s; %s)", r.Question, r.Text, ms, note)
	case KindEvent:
		e := r.Event
		check := ""
		if c := e.Check; c != nil {
			verdict := "rejected"
			if c.Confirmed {
				verdict = "confirmed"
			}
			check = fmt.Sprintf(", ITM %s %.2f", verdict, c.Score)
		}
		if e.Type == "end" {
			return fmt.Sprintf("end   %s (lasted %s, top %.2f%s)", e.Label, e.End.Sub(e.Start).Round(100*time.Millisecond), e.TopScore, check)
		}
		if check != "" {
			check = " (" + check[2:] + ")"
		}
		return fmt.Sprintf("start %s %.2f%s", e.Label, e.Score, check)
	case KindSnapshot:
		return fmt.Sprintf("%d kB JPEG (frame %d)", (len(r.JPEG)+512)/1024, r.Frame.Seq)
	}
	return ""
}

func frameNote(f FrameInfo, truth string) string {
	if truth == "" {
		return fmt.Sprintf("frame %d", f.Seq)
	}
	return fmt.Sprintf("frame %d, truth: %s", f.Seq, truth)
}
