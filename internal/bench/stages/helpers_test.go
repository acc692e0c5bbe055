package stages

import (
	"io"
	"log/slog"

	"github.com/edged/edged/internal/bench"
)

type recorder struct{ records []bench.Record }

func (r *recorder) Write(rec bench.Record) error { r.records = append(r.records, rec); return nil }
func (r *recorder) Flush() error                 { return nil }

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
