package connector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// Metrics are the pipeline's Prometheus metrics. Each pipeline has its own
// registry, so tests and several pipelines in one process do not collide.
type Metrics struct {
	Registry *prometheus.Registry

	recordsIn    prometheus.Counter
	recordsOut   *prometheus.CounterVec
	sinkErrors   *prometheus.CounterVec
	retries      prometheus.Counter
	deadLettered prometheus.Counter
	stageSeconds *prometheus.HistogramVec
	sinkSeconds  *prometheus.HistogramVec
	batchSize    prometheus.Histogram
	tableSize    *prometheus.GaugeVec
	evictions    *prometheus.GaugeVec
	missing      *prometheus.GaugeVec
}

// NewMetrics creates the metrics on reg (a new registry when nil).
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{
		Registry: reg,
		recordsIn: prometheus.NewCounter(prometheus.CounterOpts{Name: "sfconnector_records_in_total",
			Help: "SysFlow records (or flat events from a bus) taken from the source."}),
		recordsOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sfconnector_records_out_total",
			Help: "Records accepted by each sink."}, []string{"sink"}),
		sinkErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sfconnector_sink_errors_total",
			Help: "Failed sink writes (each is retried)."}, []string{"sink"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "sfconnector_retries_total",
			Help: "Batch retries after a failure."}),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{Name: "sfconnector_dead_lettered_total",
			Help: "Records sent to the dead-letter sink after every retry failed."}),
		stageSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sfconnector_stage_seconds",
			Help: "Time per chunk of a batch (chunk.records) in each transform, and in the flattener (stage flatten).", Buckets: prometheus.ExponentialBuckets(1e-5, 4, 10)}, []string{"stage"}),
		sinkSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sfconnector_sink_seconds",
			Help: "Time per chunk of a batch (chunk.records) written by each sink.", Buckets: prometheus.ExponentialBuckets(1e-5, 4, 10)}, []string{"sink"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sfconnector_batch_records",
			Help: "Flat events per chunk of a batch (chunk.records).", Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
		tableSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sfconnector_entity_table_size",
			Help: "Entries in the flattener's entity tables (last stream seen)."}, []string{"table"}),
		evictions: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sfconnector_entity_evictions",
			Help: "Entities evicted from the flattener's tables (last stream seen), by reason: capacity (the table was full, tables.max) or exit (a process removed after its exit grace)."}, []string{"table", "reason"}),
		missing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sfconnector_missing_references",
			Help: "Events whose referenced entity was missing (last stream seen)."}, []string{"kind"}),
	}
	f(m.recordsIn)
	f(m.recordsOut)
	f(m.sinkErrors)
	f(m.retries)
	f(m.deadLettered)
	f(m.stageSeconds)
	f(m.sinkSeconds)
	f(m.batchSize)
	f(m.tableSize)
	f(m.evictions)
	f(m.missing)
	return m
}

func (m *Metrics) observeFlattener(f *flatten.Flattener) {
	st := f.Stats()
	// Evicted.Processes includes the processes removed after their exit:
	// they are the normal end of a process, not a sign of a full table.
	tables := []struct {
		name          string
		size, evicted uint64
	}{
		{"processes", st.Tables.Processes, st.Evicted.Processes - st.Exited},
		{"files", st.Tables.Files, st.Evicted.Files},
		{"containers", st.Tables.Containers, st.Evicted.Containers},
		{"pods", st.Tables.Pods, st.Evicted.Pods},
	}
	for _, t := range tables {
		m.tableSize.WithLabelValues(t.name).Set(float64(t.size))
		m.evictions.WithLabelValues(t.name, "capacity").Set(float64(t.evicted))
	}
	m.evictions.WithLabelValues("processes", "exit").Set(float64(st.Exited))
	missing := []struct {
		kind string
		n    uint64
	}{
		{"process", st.Missing.Process}, {"parent", st.Missing.Parent}, {"container", st.Missing.Container},
		{"pod", st.Missing.Pod}, {"file", st.Missing.File}, {"newfile", st.Missing.NewFile},
	}
	for _, x := range missing {
		m.missing.WithLabelValues(x.kind).Set(float64(x.n))
	}
}

// Health tells /healthz and /readyz what to answer.
type Health struct {
	ready atomic.Bool
	check atomic.Pointer[func() error]
}

// SetReady marks the pipeline ready (source open, sinks connected) or not.
func (h *Health) SetReady(v bool) { h.ready.Store(v) }

// SetCheck makes /readyz also ask check, which says why the pipeline
// cannot deliver (Pipeline.Unready); nil from it: ready.
func (h *Health) SetCheck(check func() error) { h.check.Store(&check) }

// readiness is nil when ready, else why not.
func (h *Health) readiness() error {
	if !h.ready.Load() {
		return errors.New("not ready")
	}
	if c := h.check.Load(); c != nil {
		if err := (*c)(); err != nil {
			return fmt.Errorf("not ready: a sink is failing\n%w", err)
		}
	}
	return nil
}

// Serve starts the HTTP server for /metrics, /healthz and /readyz on addr and
// stops it when ctx ends. It returns the address it listens on.
func Serve(ctx context.Context, addr string, m *Metrics, h *Health) (string, <-chan error, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := h.readiness(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	return ln.Addr().String(), done, nil
}
