package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Record is one measurement, the unit of edged bench's output. With --json each is one line
// of JSON. The first eight fields are always present (scripts that read the lines rely on them):
//
//	{"stage":"clip.image_embed","model":"clip-vit-base-patch32","precision":"int8",
//	 "delegate":"xnnpack+qs8","threads":2,"p50_ms":14.2,"p90_ms":15.0,"runs":20}
//
// The others appear only when they apply: Position for per-token decoding, Tokens for a
// stage that runs over a token sequence (text length, caption length), Labels for zero-shot,
// Beams for beam search, PeakRSS and FileBytes for memory and size rows, Delegation for how
// much of the graph the delegate took, Note for anything else worth knowing.
type Record struct {
	Stage     string  `json:"stage"`
	Model     string  `json:"model"`
	Precision string  `json:"precision"`
	Delegate  string  `json:"delegate"`
	Threads   int     `json:"threads"`
	P50Ms     float64 `json:"p50_ms"`
	P90Ms     float64 `json:"p90_ms"`
	Runs      int     `json:"runs"`

	Position   int    `json:"position,omitempty"`
	Tokens     int    `json:"tokens,omitempty"`
	Labels     int    `json:"labels,omitempty"`
	Beams      int    `json:"beams,omitempty"`
	PeakRSS    int64  `json:"peak_rss_bytes,omitempty"`
	FileBytes  int64  `json:"file_bytes,omitempty"`
	Delegation string `json:"delegation,omitempty"`
	Note       string `json:"note,omitempty"`
}

// SetStats fills the timing fields from s.
func (r *Record) SetStats(s Stats) {
	r.P50Ms = round3(Ms(s.P50))
	r.P90Ms = round3(Ms(s.P90))
	r.Runs = s.Runs
}

// round3 keeps microsecond resolution in milliseconds: more digits are noise.
func round3(ms float64) float64 {
	return float64(int64(ms*1000+0.5)) / 1000
}

// Writer prints records as they come.
type Writer interface {
	Write(r Record) error
	// Flush finishes the output (a table is aligned only when it is complete).
	Flush() error
}

// JSONWriter writes one JSON object per line.
type JSONWriter struct{ enc *json.Encoder }

// NewJSONWriter writes JSON lines to w.
func NewJSONWriter(w io.Writer) *JSONWriter {
	return &JSONWriter{enc: json.NewEncoder(w)}
}

// Write implements Writer.
func (j *JSONWriter) Write(r Record) error { return j.enc.Encode(r) }

// Flush implements Writer.
func (j *JSONWriter) Flush() error { return nil }

// TableWriter writes an aligned table; rows are buffered until Flush.
type TableWriter struct {
	tw     *tabwriter.Writer
	header bool
}

// NewTableWriter writes a table to w.
func NewTableWriter(w io.Writer) *TableWriter {
	return &TableWriter{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

// Write implements Writer.
func (t *TableWriter) Write(r Record) error {
	if !t.header {
		t.header = true
		if _, err := fmt.Fprintln(t.tw, "stage\tmodel\tprecision\tdelegate\tthreads\tp50 ms\tp90 ms\truns\t\tdetail\t"); err != nil {
			return err
		}
	}
	p50, p90, runs := fmt.Sprintf("%.3f", r.P50Ms), fmt.Sprintf("%.3f", r.P90Ms), fmt.Sprint(r.Runs)
	if r.Runs == 0 {
		p50, p90, runs = "-", "-", "-"
	}
	_, err := fmt.Fprintf(t.tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t\t%s\t\n", r.Stage, r.Model, r.Precision, r.Delegate, r.Threads, p50, p90, runs, detail(r))
	return err
}

// Flush implements Writer.
func (t *TableWriter) Flush() error { return t.tw.Flush() }

func detail(r Record) string {
	var parts []string
	if r.Position > 0 {
		parts = append(parts, fmt.Sprintf("position %d", r.Position))
	}
	if r.Tokens > 0 {
		parts = append(parts, fmt.Sprintf("%d tokens", r.Tokens))
	}
	if r.Labels > 0 {
		parts = append(parts, fmt.Sprintf("%d labels", r.Labels))
	}
	if r.Beams > 0 {
		parts = append(parts, fmt.Sprintf("%d beams", r.Beams))
	}
	if r.FileBytes > 0 {
		parts = append(parts, "file "+FormatBytes(r.FileBytes))
	}
	if r.PeakRSS > 0 {
		parts = append(parts, "peak RSS "+FormatBytes(r.PeakRSS))
	}
	if r.Delegation != "" {
		parts = append(parts, r.Delegation)
	}
	if r.Note != "" {
		parts = append(parts, r.Note)
	}
	return strings.Join(parts, "; ")
}

// FormatBytes prints a size in binary units, e.g. "87.9 MiB".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
