package json_test

import (
	"testing"

	sfjson "github.com/sfconnector/sfconnector/encoding/json"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

func flattenTraces(b *testing.B) []*sysflow.Event {
	b.Helper()
	var events []*sysflow.Event
	for _, p := range shared.Traces(b) {
		f := flatten.New(flatten.Config{Logger: quietLogger()})
		events = f.Flatten(readTrace(b, p), events)
	}
	return events
}

// BenchmarkEncodeJSON encodes every flat event of the real traces into a
// reused buffer (records/s counts events: the reference's telemetry output
// has one line per event).
func BenchmarkEncodeJSON(b *testing.B) {
	events := flattenTraces(b)
	for _, mode := range []struct {
		name string
		opts sfjson.Options
	}{{"nested", sfjson.Options{}}, {"flat", sfjson.Options{Flat: true}}} {
		b.Run(mode.name, func(b *testing.B) {
			enc := sfjson.New(mode.opts)
			buf := make([]byte, 0, 1<<16)
			var size int64
			for _, ev := range events {
				out, _ := enc.AppendEvent(buf[:0], ev)
				size += int64(len(out)) + 1
			}
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, ev := range events {
					buf, _ = enc.AppendEvent(buf[:0], ev)
				}
			}
			b.ReportMetric(float64(len(events))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
