package json_test

import (
	"bytes"
	"runtime"
	"testing"

	sfjson "github.com/sfconnector/sfconnector/encoding/json"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/sysflow/synth"
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

func flattenSynth(b testing.TB, n int) []*sysflow.Event {
	b.Helper()
	var buf bytes.Buffer
	if _, err := synth.Generate(&buf, synth.Options{Seed: 42, Records: n}); err != nil {
		b.Fatal(err)
	}
	r, err := sysflow.NewReader(&buf, "synth")
	if err != nil {
		b.Fatal(err)
	}
	var recs []sysflow.Record
	for err == nil {
		recs, err = r.Next(recs)
	}
	return flatten.New(flatten.Config{Logger: quietLogger()}).Flatten(recs, nil)
}

// BenchmarkEncodeJSON encodes every flat event of the real traces, and of
// a 500k-event generated trace, into a reused buffer (records/s counts
// events: the reference's telemetry output has one line per event).
func BenchmarkEncodeJSON(b *testing.B) {
	inputs := []struct {
		name   string
		events func(*testing.B) []*sysflow.Event
	}{
		{"traces", flattenTraces},
		{"synth-500k", func(b *testing.B) []*sysflow.Event { return flattenSynth(b, 500_000) }},
	}
	for _, mode := range []struct {
		name string
		opts sfjson.Options
	}{{"nested", sfjson.Options{}}, {"flat", sfjson.Options{Flat: true}}} {
		for _, in := range inputs {
			b.Run(mode.name+"/"+in.name, func(b *testing.B) {
				events := in.events(b)
				enc := sfjson.New(mode.opts)
				buf := make([]byte, 0, 1<<16)
				var size int64
				for _, ev := range events {
					out, _ := enc.AppendEvent(buf[:0], ev)
					size += int64(len(out)) + 1
				}
				b.SetBytes(size)
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				b.ReportAllocs()
				for b.Loop() {
					for _, ev := range events {
						buf, _ = enc.AppendEvent(buf[:0], ev)
					}
				}
				runtime.ReadMemStats(&after)
				n := float64(len(events)) * float64(b.N)
				b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
				b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/record")
			})
		}
	}
}
