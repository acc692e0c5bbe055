package daemon

import (
	"testing"
	"time"
)

func TestEventTracker(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	type step struct {
		sec   int
		score float64
		want  string // "", "start" or "end"
	}
	cases := []struct {
		name        string
		hysteresis  float64
		minDuration time.Duration
		steps       []step
	}{
		{"opens at threshold, closes below threshold minus hysteresis", 0.1, 0, []step{
			{0, 0.3, ""}, {1, 0.5, "start"}, {2, 0.45, ""}, {3, 0.41, ""}, {4, 0.39, "end"}, {5, 0.2, ""},
		}},
		{"no hysteresis: closes just below the threshold", 0, 0, []step{
			{0, 0.6, "start"}, {1, 0.49, "end"}, {2, 0.5, "start"},
		}},
		{"minimum duration holds back short blips", 0.1, 2 * time.Second, []step{
			{0, 0.6, ""}, {1, 0.3, ""}, {2, 0.6, ""}, {3, 0.7, ""}, {4, 0.55, "start"}, {5, 0.1, "end"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := NewEventTracker("cam", c.hysteresis, c.minDuration)
			var startID string
			for _, s := range c.steps {
				ev, ok := tr.Observe("red circle", s.score, 0.5, at(s.sec))
				got := ""
				if ok {
					got = ev.Type
				}
				if got != s.want {
					t.Fatalf("t=%ds score %.2f: event %q, want %q", s.sec, s.score, got, s.want)
				}
				switch got {
				case "start":
					startID = ev.ID
				case "end":
					if ev.ID != startID || !ev.End.Equal(at(s.sec)) || ev.Start.After(ev.End) {
						t.Fatalf("end event %+v does not match its start %q", ev, startID)
					}
				}
			}
		})
	}
}

func TestEventTrackerSpanAndTopScore(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := NewEventTracker("cam", 0.05, time.Second)
	tr.Observe("x", 0.7, 0.5, t0)
	start, ok := tr.Observe("x", 0.6, 0.5, t0.Add(time.Second))
	if !ok || !start.Start.Equal(t0) || start.TopScore != 0.7 {
		t.Fatalf("start %+v: want it to begin at the first crossing with top 0.7", start)
	}
	tr.Observe("x", 0.9, 0.5, t0.Add(2*time.Second))
	end, ok := tr.Observe("x", 0.1, 0.5, t0.Add(3*time.Second))
	if !ok || end.TopScore != 0.9 || end.Score != 0.1 {
		t.Fatalf("end %+v: want top 0.9, score 0.1", end)
	}
	tr.Observe("y", 0.8, 0.5, t0)
	tr.Observe("y", 0.8, 0.5, t0.Add(time.Second))
	if evs := tr.CloseAll(t0.Add(5 * time.Second)); len(evs) != 1 || evs[0].Label != "y" || evs[0].Type != "end" {
		t.Fatalf("CloseAll: %+v", evs)
	}
}
