package bench

import (
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Runner times stages and writes a Record for each. Errors of one stage are logged and
// counted, and the run goes on with the next (a model that does not run on a delegate should
// not hide the figures of the others).
type Runner struct {
	Options Options
	Out     Writer
	Log     *slog.Logger
	// Failures counts stages that could not be measured.
	Failures int
}

// NewRunner writes to w as JSON lines or as a table.
func NewRunner(w io.Writer, jsonLines bool, o Options, log *slog.Logger) *Runner {
	var out Writer = NewTableWriter(w)
	if jsonLines {
		out = NewJSONWriter(w)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Runner{Options: o, Out: out, Log: log}
}

// Time measures fn and writes rec with the figures filled in. It returns the statistics (zero
// and an error when the stage failed).
func (r *Runner) Time(rec Record, fn func() error) (Stats, error) {
	r.Log.Debug("measuring", "stage", rec.Stage, "precision", rec.Precision, "delegate", rec.Delegate, "threads", rec.Threads)
	s, err := Measure(r.Options, fn)
	if err != nil {
		r.Fail(rec, err)
		return Stats{}, err
	}
	rec.SetStats(s)
	return s, r.Out.Write(rec)
}

// Emit writes a record that is not a timing (a file size, a peak RSS).
func (r *Runner) Emit(rec Record) error { return r.Out.Write(rec) }

// Fail logs a stage that could not be measured.
func (r *Runner) Fail(rec Record, err error) {
	r.Failures++
	r.Log.Error("stage failed", "stage", rec.Stage, "model", rec.Model, "precision", rec.Precision, "delegate", rec.Delegate, "threads", rec.Threads, "err", err)
}

// Flush finishes the output.
func (r *Runner) Flush() error { return r.Out.Flush() }

// Elapsed is a stopwatch for work done outside Measure (model loading, conversion).
func Elapsed(start time.Time) string { return fmt.Sprintf("%.1fs", time.Since(start).Seconds()) }
