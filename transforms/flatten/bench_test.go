package flatten_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"testing"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/sysflow/synth"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

func readTrace(b testing.TB, path string) []sysflow.Record {
	b.Helper()
	r, closer, err := sysflow.OpenFile(path)
	if err != nil {
		b.Fatal(err)
	}
	defer closer.Close()
	return readAll(b, r)
}

func readAll(b testing.TB, r *sysflow.Reader) []sysflow.Record {
	var recs []sysflow.Record
	for {
		var err error
		recs, err = r.Next(recs)
		if errors.Is(err, io.EOF) {
			return recs
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFlatten flattens records in batches of 256, as a source hands
// them over: every real trace, with one Flattener per trace (each trace
// starts with its header, which resets the tables), and a 500k-event
// generated trace, one stream.
func BenchmarkFlatten(b *testing.B) {
	b.Run("traces", func(b *testing.B) {
		var all [][]sysflow.Record
		for _, p := range shared.Traces(b) {
			all = append(all, readTrace(b, p))
		}
		benchFlatten(b, all)
	})
	b.Run("synth-500k", func(b *testing.B) {
		var buf bytes.Buffer
		if _, err := synth.Generate(&buf, synth.Options{Seed: 42, Records: 500_000}); err != nil {
			b.Fatal(err)
		}
		r, err := sysflow.NewReader(&buf, "synth")
		if err != nil {
			b.Fatal(err)
		}
		benchFlatten(b, [][]sysflow.Record{readAll(b, r)})
	})
}

func benchFlatten(b *testing.B, streams [][]sysflow.Record) {
	total := 0
	for _, recs := range streams {
		total += len(recs)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var events []*sysflow.Event
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	for b.Loop() {
		for _, recs := range streams {
			f := flatten.New(flatten.Config{Logger: quiet})
			for start := 0; start < len(recs); start += 256 {
				events = f.Flatten(recs[start:min(start+256, len(recs))], events[:0])
			}
		}
	}
	runtime.ReadMemStats(&after)
	n := float64(total) * float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/record")
}
