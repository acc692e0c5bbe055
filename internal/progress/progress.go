// Package progress reports long work (a conversion's steps, a download's bytes): a redrawn bar
// on a terminal, plain log lines elsewhere (a service's journal, CI, a pipe).
package progress

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Reporter receives reports: Step(name, done, total) says that done of total units of the
// named step are finished (total 0 when unknown). A step starts at done 0 and ends at
// done == total. Implementations are safe for concurrent use.
type Reporter interface {
	Step(name string, done, total int)
}

// Nop reports nothing.
type Nop struct{}

func (Nop) Step(string, int, int) {}

// Tee reports to every one of rs.
type Tee []Reporter

func (t Tee) Step(name string, done, total int) {
	for _, r := range t {
		r.Step(name, done, total)
	}
}

// Unit writes an amount of work for people: Count or Bytes.
type Unit func(n int) string

// Count writes n as a number.
func Count(n int) string { return strconv.Itoa(n) }

// Bytes writes n bytes in binary units ("3.2 MiB").
func Bytes(n int) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, exp := float64(n)/unit, 0
	for v >= unit && exp < 4 {
		v /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[exp])
}

// Options shape the reports.
type Options struct {
	// Prefix starts every log line ("convert: ").
	Prefix string
	// Unit writes amounts; nil means Count.
	Unit Unit
	// Every is how often a running step is logged between its start and its end; 0 logs only
	// the start and the end.
	Every time.Duration
}

// New reports to w: a bar redrawn on one line when w is a terminal, otherwise log lines
// through logger (slog's default when nil): when a step starts, every opts.Every while it
// runs, and when it ends, with its duration.
func New(w io.Writer, logger *slog.Logger, opts Options) Reporter {
	if opts.Unit == nil {
		opts.Unit = Count
	}
	if f, ok := w.(*os.File); ok && IsTerminal(f) {
		return &bar{w: w, width: 30, unit: opts.Unit}
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &logLines{log: logger, opts: opts, now: time.Now}
}

// IsTerminal reports whether f is a character device (a terminal), without a dependency on
// x/term: a pipe or a file gets log lines, which is what logs and CI want.
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// logLines logs the start, the end and (with Options.Every) the course of every step.
type logLines struct {
	log  *slog.Logger
	opts Options
	now  func() time.Time
	mu   sync.Mutex
	// steps holds the start and the last line of each step; an ended step keeps a zero start,
	// so that its end is logged once, until it runs again (from done < total).
	steps map[string]*stepTimes
}

type stepTimes struct{ start, last time.Time }

func (p *logLines) Step(name string, done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.steps == nil {
		p.steps = map[string]*stepTimes{}
	}
	now := p.now()
	s, seen := p.steps[name]
	if !seen || s.start.IsZero() && done < total { // the step starts, or runs again
		s = &stepTimes{start: now, last: now}
		p.steps[name] = s
		p.log.Info(p.opts.Prefix+name, "total", p.opts.Unit(total))
	}
	if s.start.IsZero() {
		return // ended: logged once
	}
	if done >= total {
		p.log.Info(p.opts.Prefix+name+" done", "seconds", fmt.Sprintf("%.1f", now.Sub(s.start).Seconds()))
		s.start = time.Time{}
		return
	}
	if p.opts.Every > 0 && now.Sub(s.last) >= p.opts.Every {
		s.last = now
		p.log.Info(p.opts.Prefix+name, "done", p.opts.Unit(done), "total", p.opts.Unit(total),
			"percent", 100*done/max(total, 1))
	}
}

// bar draws "name [=====>     ] 12/40" on one line, redrawn at most every 100 ms.
type bar struct {
	w     io.Writer
	width int
	unit  Unit
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
		line = fmt.Sprintf("%-32s [%s%s] %s/%s", name, strings.Repeat("=", filled), strings.Repeat(" ", b.width-filled), b.unit(done), b.unit(total))
	}
	end := ""
	if finished {
		end = "\n"
	}
	fmt.Fprintf(b.w, "\r\033[K%s%s", line, end)
}
