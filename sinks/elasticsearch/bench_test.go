package elasticsearch_test

import (
	"testing"
	"time"

	es "github.com/sfconnector/sfconnector/sinks/elasticsearch"
	"github.com/sfconnector/sfconnector/testenv/esbulk"
)

// BenchmarkPublish indexes the events of a real trace (k8s_small.sf) into
// the stand-in server, 1000 events per Publish, and reports documents/s.
// The stand-in decodes every document on the same machine, so the figure
// is a floor of the sink's own speed, not Elasticsearch's.
func BenchmarkPublish(b *testing.B) {
	evs := traceEvents(b, "k8s_small.sf")
	for _, workers := range []int{1, 2} {
		b.Run(map[int]string{1: "workers=1", 2: "workers=2"}[workers], func(b *testing.B) {
			b.ReportAllocs()
			var docs int
			var elapsed time.Duration
			for b.Loop() {
				b.StopTimer()
				srv := esbulk.Start(b) // a fresh store: every document is a create
				s := newSink(b, es.Config{Addresses: []string{srv.URL()}, NumWorkers: workers})
				b.StartTimer()
				start := time.Now()
				publishAll(b, s, evs, 1000)
				elapsed += time.Since(start)
				docs += len(evs)
				b.StopTimer()
				if st := s.Stats(); st.Indexed != int64(len(evs)) {
					b.Fatalf("%d indexed, want %d", st.Indexed, len(evs))
				}
				s.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(docs)/elapsed.Seconds(), "docs/s")
		})
	}
}
