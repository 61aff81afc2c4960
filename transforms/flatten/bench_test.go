package flatten_test

import (
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

func readTrace(b *testing.B, path string) []sysflow.Record {
	b.Helper()
	r, closer, err := sysflow.OpenFile(path)
	if err != nil {
		b.Fatal(err)
	}
	defer closer.Close()
	var recs []sysflow.Record
	for {
		recs, err = r.Next(recs)
		if errors.Is(err, io.EOF) {
			return recs
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFlatten flattens the real traces in batches of 256 records, as
// a source hands them over, with one Flattener per trace (each trace starts
// with its header, which resets the tables).
func BenchmarkFlatten(b *testing.B) {
	var all [][]sysflow.Record
	total := 0
	for _, p := range shared.Traces(b) {
		recs := readTrace(b, p)
		all = append(all, recs)
		total += len(recs)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b.ReportAllocs()
	b.ResetTimer()
	var events []*sysflow.Event
	for i := 0; i < b.N; i++ {
		for _, recs := range all {
			f := flatten.New(flatten.Config{Logger: quiet})
			for start := 0; start < len(recs); start += 256 {
				events = f.Flatten(recs[start:min(start+256, len(recs))], events[:0])
			}
		}
	}
	b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
