package convert

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// Progress receives reports of a long conversion: Step(name, done, total) says that done of
// total units of the named step are finished (total 0 when unknown). A step starts at done 0
// and ends at done == total. Implementations must be safe for use by one goroutine at a time.
type Progress interface {
	Step(name string, done, total int)
}

type nopProgress struct{}

func (nopProgress) Step(string, int, int) {}

// NewProgress reports to w: a redrawn progress bar when w is a terminal, otherwise one log
// line (through logger, or slog's default when nil) when a step starts and when it ends.
func NewProgress(w io.Writer, logger *slog.Logger) Progress {
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		return &bar{w: w, width: 30}
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &logLines{log: logger}
}

// isTerminal reports whether f is a character device (a terminal), without a dependency on
// x/term: a pipe or a file gets log lines, which is what logs and CI want.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// logLines logs the start and the end of every step, with its duration.
type logLines struct {
	log   *slog.Logger
	mu    sync.Mutex
	start map[string]time.Time
}

func (p *logLines) Step(name string, done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.start == nil {
		p.start = map[string]time.Time{}
	}
	if _, started := p.start[name]; !started {
		p.start[name] = time.Now()
		p.log.Info("convert: "+name, "total", total)
	}
	if done >= total {
		if t, ok := p.start[name]; ok && !t.IsZero() {
			p.log.Info("convert: "+name+" done", "seconds", fmt.Sprintf("%.1f", time.Since(t).Seconds()))
			p.start[name] = time.Time{} // ended: log once
		}
	}
}

// bar draws "name [=====>     ] 12/40" on one line, redrawn at most every 100 ms.
type bar struct {
	w     io.Writer
	width int
	mu    sync.Mutex
	last  time.Time
	step  string
}

func (b *bar) Step(name string, done, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	finished := total == 0 || done >= total
	if name == b.step && !finished && time.Since(b.last) < 100*time.Millisecond {
		return
	}
	b.step, b.last = name, time.Now()
	line := name
	if total > 0 {
		filled := b.width * min(done, total) / total
		line = fmt.Sprintf("%-32s [%s%s] %d/%d", name, strings.Repeat("=", filled), strings.Repeat(" ", b.width-filled), done, total)
	}
	end := ""
	if finished {
		end = "\n"
	}
	fmt.Fprintf(b.w, "\r\033[K%s%s", line, end)
}
