package daemon

import (
	"context"
	"testing"
)

// A lane hands freed memory back after the first job of each kind since a model was loaded
// or unloaded (releaseFreedMemory), and not after the jobs that follow it.
func TestLaneHandsMemoryBackAfterFirstRuns(t *testing.T) {
	l := newLane("test", 8, discardLogger())
	var loads uint64 // the daemon's loadGeneration, which other tests' daemons would move
	handBacks := 0
	l.loads, l.handBack = func() uint64 { return loads }, func() { handBacks++ }
	run := func(k Kind) {
		l.runJob(t.Context(), &job{camera: "c", kind: k, run: func(context.Context) {}})
	}
	loads++ // a model loaded
	run(KindLabels)
	run(KindLabels)
	run(KindCaption)
	run(KindLabels)
	if handBacks != 2 {
		t.Fatalf("after a load and labels, labels, caption, labels: %d hand-backs, want 2 (the first labels and the first caption)", handBacks)
	}
	loads++ // another model loaded (or one unloaded)
	run(KindCaption)
	run(KindCaption)
	if handBacks != 3 {
		t.Fatalf("after a second load and two captions: %d hand-backs, want 3", handBacks)
	}
}
