package otel_test

import (
	"context"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/sfconnector/sfconnector/encoding/otel"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// FuzzDecode feeds arbitrary messages to the decoder, seeded with real
// messages (protobuf and OTLP/JSON, telemetry and an alert): errors are
// fine, panics and hangs are not, and whatever the OpenTelemetry library
// itself cannot read must be refused.
func FuzzDecode(f *testing.F) {
	events := traceEvents(f, filepath.Join(shared.Path(f, "traces"), "k8s_small.sf"))
	for _, enc := range []string{otel.Proto, otel.JSON} {
		e := newEncoder(f, otel.Options{Encoding: enc, MaxRecords: 4})
		for i := 0; i+4 <= len(events) && i < 40; i += 4 {
			b, _, err := e.AppendEvents(nil, events[i:i+4])
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
		alert := *events[0]
		alert.Matches = []sysflow.Match{{Rule: "r", Priority: sysflow.PriorityHigh, Tags: []string{"t"}}}
		alert.Tags = []string{"t"}
		b, err := e.AppendEvent(nil, &alert)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("{}"))
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	dec := otel.NewDecoder()
	f.Fuzz(func(t *testing.T, b []byte) {
		var batch sysflow.Batch
		err := dec.Decode(context.Background(), b, &batch)
		if err != nil {
			return
		}
		var ld plog.Logs
		var lerr error
		if len(b) > 0 && b[0] == '{' {
			ld, lerr = (&plog.JSONUnmarshaler{}).UnmarshalLogs(b)
		} else {
			ld, lerr = (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
		}
		if lerr != nil {
			t.Fatalf("decoded a message the OpenTelemetry library rejects: %v", lerr)
		}
		if len(batch.Events) != ld.LogRecordCount() {
			t.Fatalf("no error, but %d events from %d records", len(batch.Events), ld.LogRecordCount())
		}
	})
}

func benchEvents(b *testing.B) []*sysflow.Event {
	var all []*sysflow.Event
	for _, p := range shared.Traces(b) {
		all = append(all, traceEvents(b, p)...)
	}
	return all
}

// BenchmarkEncode writes every event of the shared traces as protobuf
// LogsData, 256 records a message at most, as the bus sinks do.
func BenchmarkEncode(b *testing.B) {
	events := benchEvents(b)
	enc := newEncoder(b, otel.Options{})
	var buf []byte
	bytes := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for rest := events; len(rest) > 0; {
			var n int
			var err error
			buf, n, err = enc.AppendEvents(buf[:0], rest)
			if err != nil {
				b.Fatal(err)
			}
			bytes += len(buf)
			rest = rest[n:]
		}
	}
	b.ReportMetric(float64(b.N*len(events))/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(bytes)/float64(b.N*len(events)), "bytes/record")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkDecode reads those messages back into events.
func BenchmarkDecode(b *testing.B) {
	events := benchEvents(b)
	enc := newEncoder(b, otel.Options{})
	var msgs [][]byte
	for rest := events; len(rest) > 0; {
		m, n, err := enc.AppendEvents(nil, rest)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, m)
		rest = rest[n:]
	}
	dec := otel.NewDecoder()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, m := range msgs {
			var batch sysflow.Batch
			if err := dec.Decode(context.Background(), m, &batch); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(events))/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(0, "ns/op")
}
