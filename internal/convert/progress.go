package convert

import (
	"io"
	"log/slog"

	"github.com/edged/edged/internal/progress"
)

// Progress receives reports of a long conversion: Step(name, done, total) says that done of
// total units of the named step are finished (total 0 when unknown). A step starts at done 0
// and ends at done == total. Implementations must be safe for use by one goroutine at a time.
type Progress = progress.Reporter

// NewProgress reports to w: a redrawn progress bar when w is a terminal, otherwise one log
// line (through logger, or slog's default when nil) when a step starts and when it ends.
func NewProgress(w io.Writer, logger *slog.Logger) Progress {
	return progress.New(w, logger, progress.Options{Prefix: "convert: "})
}
