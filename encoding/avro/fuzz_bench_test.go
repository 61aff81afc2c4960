package avro_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sfconnector/sfconnector/encoding/avro"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// FuzzDecode feeds arbitrary bodies behind a registered FlatEvent id and a
// registered record id: errors are fine, panics and hangs are not.
func FuzzDecode(f *testing.F) {
	enc, dec, _ := newCodec(f, avro.SchemaEvent)
	te, _ := enc.ForDestination("fuzz")
	_, events := traceData(f, filepath.Join(shared.Path(f, "traces"), "k8s_small.sf"))
	for _, ev := range events[:20] {
		b, err := te.AppendEvent(nil, ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	renc, _, _ := newCodec(f, avro.SchemaRecord)
	rte, _ := renc.ForDestination("fuzzraw")
	recs, _ := traceData(f, filepath.Join(shared.Path(f, "traces"), "tcp.sf"))
	for i := range recs[:10] {
		b, err := rte.(*avro.TopicEncoder).AppendRecord(nil, &recs[i])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var batch sysflow.Batch
		_ = dec.Decode(context.Background(), b, &batch)
	})
}

func benchEvents(b *testing.B) []*sysflow.Event {
	var all []*sysflow.Event
	for _, p := range shared.Traces(b) {
		_, evs := traceData(b, p)
		all = append(all, evs...)
	}
	return all
}

func BenchmarkEncodeEvent(b *testing.B) {
	enc, _, _ := newCodec(b, avro.SchemaEvent)
	te, _ := enc.ForDestination("bench")
	events := benchEvents(b)
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		var err error
		buf, err = te.AppendEvent(buf[:0], events[i%len(events)])
		if err != nil {
			b.Fatal(err)
		}
		n += len(buf)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(n)/float64(b.N), "bytes/record")
}

func BenchmarkDecodeEvent(b *testing.B) {
	enc, dec, _ := newCodec(b, avro.SchemaEvent)
	te, _ := enc.ForDestination("bench")
	events := benchEvents(b)
	encoded := make([][]byte, len(events))
	for i, ev := range events {
		encoded[i], _ = te.AppendEvent(nil, ev)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var batch sysflow.Batch
		if err := dec.Decode(ctx, encoded[i%len(encoded)], &batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
