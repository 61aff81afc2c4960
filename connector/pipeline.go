package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// Source is a Watermill subscriber that can tell when it has finished.
type Source interface {
	message.Subscriber
	// Done is closed when the source will deliver nothing more.
	Done() <-chan struct{}
	// Err reports input errors met on the way (damaged files...).
	Err() error
}

// Transform is one step over a batch of flat events (a policy engine).
type Transform interface {
	Process(ctx context.Context, events []*sysflow.Event) ([]*sysflow.Event, error)
}

// Sink is a Watermill publisher of batch messages with a name for logs and
// metrics.
type Sink struct {
	Name string
	Pub  message.Publisher
	// Raw sinks forward the source's SysFlow records unchanged (raw
	// encoding on Kafka or NATS); they belong at the root stage.
	Raw bool
}

// Stage is a node of the pipeline tree: an optional transform, then sinks
// and further stages fed by its output.
type Stage struct {
	Name      string
	Transform Transform // nil at the root (flattener output)
	Sinks     []*Sink
	Children  []*Stage
}

// Pipeline is a runnable pipeline. Build it with New or from a config.
type Pipeline struct {
	source   Source
	root     *Stage
	flatCfg  flatten.Config
	settings Settings
	log      *slog.Logger
	metrics  *Metrics

	mu         sync.Mutex
	flatteners map[string]*flatten.Flattener
	progress   map[*sysflow.Batch]*progress

	sinkIndex map[*Sink]int
	sinks     []*Sink
	below     map[*Stage][]int // sink indexes of a stage and the stages below
	health    []sinkHealth     // per sink index
	closers   []func() error

	// abortCtx ends when in-flight work is given up: the shutdown
	// deadline passed or fail-fast stopped the run (its cause says which).
	// Retries wait on it; abort also cuts short the sinks' waits.
	abortCtx    context.Context
	cancelAbort context.CancelCauseFunc
	abortOnce   sync.Once
	// stopped is closed when fail-fast gives up on a sink; stopErr says why.
	stopped  chan struct{}
	stopOnce sync.Once
	stopErr  error

	// for Summary
	recordsRead, eventsMade atomic.Int64
	written, failed         []atomic.Int64 // per sink index
}

// Settings of a pipeline run.
type Settings struct {
	ShutdownTimeout time.Duration // how long a drain may take; default 10s
	RetryMax        int           // retries of a failing sink before the dead-letter sink (or redelivery)
	RetryInitial    time.Duration
	DeadLetter      message.Publisher // receives batches whose sinks failed every retry; nil: redeliver forever
	// FailFast, without a dead-letter sink, stops the run with an error
	// once a batch still fails after RetryMax retries, instead of
	// redelivering it until the sink takes it (retry.failfast).
	FailFast bool
	Logger   *slog.Logger
	Metrics  *Metrics
	// HeapFloor, when not zero, keeps the garbage collector's heap goal at
	// this many bytes or more while Run runs (see heapFloor). It changes
	// a process-wide setting: Build sets DefaultHeapFloor for the
	// command's pipeline; GOGC or GOMEMLIMIT in the environment turn it off.
	HeapFloor uint64
	// ChunkRecords splits a batch into chunks of about this many records
	// (chunk.records): while one chunk is written to the sinks, the next
	// is flattened and transformed. Default 1024.
	ChunkRecords int
}

func (s *Settings) setDefaults() {
	if s.ShutdownTimeout <= 0 {
		s.ShutdownTimeout = 10 * time.Second
	}
	if s.RetryMax < 0 {
		s.RetryMax = 0
	}
	if s.RetryInitial <= 0 {
		s.RetryInitial = 100 * time.Millisecond
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.Metrics == nil {
		s.Metrics = NewMetrics(nil)
	}
	if s.ChunkRecords <= 0 {
		s.ChunkRecords = DefaultChunkRecords
	}
}

// New assembles a pipeline from its parts. closers run after the router
// stopped (sinks are closed there too).
func New(src Source, root *Stage, flatCfg flatten.Config, settings Settings, closers ...func() error) *Pipeline {
	settings.setDefaults()
	p := &Pipeline{source: src, root: root, flatCfg: flatCfg, settings: settings, log: settings.Logger,
		metrics: settings.Metrics, flatteners: map[string]*flatten.Flattener{}, progress: map[*sysflow.Batch]*progress{},
		sinkIndex: map[*Sink]int{}, closers: closers}
	p.below = map[*Stage][]int{}
	var walk func(*Stage) []int
	walk = func(s *Stage) []int {
		var below []int
		for _, k := range s.Sinks {
			p.sinkIndex[k] = len(p.sinks)
			below = append(below, len(p.sinks))
			p.sinks = append(p.sinks, k)
		}
		for _, c := range s.Children {
			below = append(below, walk(c)...)
		}
		p.below[s] = below
		return below
	}
	walk(root)
	p.written = make([]atomic.Int64, len(p.sinks))
	p.failed = make([]atomic.Int64, len(p.sinks))
	p.health = make([]sinkHealth, len(p.sinks))
	p.abortCtx, p.cancelAbort = context.WithCancelCause(context.Background())
	p.stopped = make(chan struct{})
	return p
}

// ErrShutdownTimeout means the drain did not finish within the deadline.
var ErrShutdownTimeout = errors.New("shutdown deadline exceeded before every in-flight record was written")

// ErrRecordsLost means the run ended with records that no sink took and
// no dead-letter sink received; the error wrapping it has the counts.
var ErrRecordsLost = errors.New("records lost")

// Run runs the pipeline until the source has finished (files) or ctx is
// cancelled (a signal), then drains: in-flight batches are written, sinks
// flushed and closed, within Settings.ShutdownTimeout. At the deadline
// retries are abandoned and sinks give up waiting for their receivers: what
// was not delivered goes to the dead-letter sink, or is logged as lost and
// makes Run fail. With FailFast and no dead-letter sink, a batch that
// still fails after every retry stops the run with that error.
func (p *Pipeline) Run(ctx context.Context) error {
	defer startHeapFloor(p.settings.HeapFloor).Stop()
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: p.settings.ShutdownTimeout},
		watermillLogger{p.log})
	if err != nil {
		return err
	}
	p.warnNoDeadLetter()
	// The first middleware added is the outermost: batches of one stream
	// run one at a time in delivery order (streamOrder), the dead-letter
	// sink (or fail-fast) gets a batch only after every retry failed, and
	// a panic is an error that is retried like any other.
	order := newStreamOrder()
	router.AddMiddleware(order.middleware)
	if p.settings.DeadLetter != nil {
		pq, err := middleware.PoisonQueue(deadLetterPublisher{p}, "deadletter")
		if err != nil {
			return err
		}
		router.AddMiddleware(pq)
	} else if p.settings.FailFast {
		router.AddMiddleware(p.failFast)
	}
	router.AddMiddleware(p.retry)
	router.AddMiddleware(middleware.Recoverer)
	router.AddConsumerHandler("pipeline", "sysflow", orderedSource{p.source, order}, p.handle)

	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	runErr := make(chan error, 1)
	go func() { runErr <- router.Run(runCtx) }()
	select {
	case <-router.Running():
	case err := <-runErr:
		return fmt.Errorf("router: %w", err)
	}

	select {
	case <-p.source.Done():
		// every batch was acknowledged
	case <-ctx.Done():
		p.log.Info("stopping: draining in-flight records", "deadline", p.settings.ShutdownTimeout)
		// One deadline for everything after the signal: the drain, the
		// router and the sinks' own flushing in closeAll.
		deadline := time.AfterFunc(p.settings.ShutdownTimeout, func() { p.abort(ErrShutdownTimeout) })
		defer deadline.Stop()
		p.source.Close() // returns once the in-flight batch is acked or nacked
	case <-p.stopped:
		p.abort(p.stopErr)
		p.source.Close()
	}
	var errs []error
	if err := router.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing router: %w", err))
	}
	<-runErr
	cancelRun()
	// The router has stopped: what is still in p.progress is lost.
	lostErr := p.reportLost()
	if lostErr != nil && errors.Is(context.Cause(p.abortCtx), ErrShutdownTimeout) {
		lostErr = fmt.Errorf("%w: %w", ErrShutdownTimeout, lostErr)
	}
	errs = append(errs, lostErr)
	errs = append(errs, p.closeAll(), p.source.Err())
	select {
	case <-p.stopped:
		errs = append([]error{p.stopErr}, errs...)
	default:
	}
	return errors.Join(errs...)
}

// abort gives up on in-flight work: retries stop waiting and sinks that
// can (syslog) stop waiting for their receiver. The dead-letter sink is
// not aborted: it takes what the others could not deliver.
func (p *Pipeline) abort(cause error) {
	p.abortOnce.Do(func() {
		p.log.Warn("giving up on in-flight records", "reason", cause)
		p.cancelAbort(cause)
		for _, k := range p.sinks {
			if a, ok := k.Pub.(aborter); ok {
				a.Abort()
			}
		}
	})
}

// aborter is a sink that can cut short a write waiting for its receiver,
// and then closes without waiting to deliver what it kept.
type aborter interface{ Abort() }

// stop ends the run with err (fail-fast); the first error wins.
func (p *Pipeline) stop(err error) {
	p.stopOnce.Do(func() {
		p.stopErr = err
		close(p.stopped)
	})
}

// warnNoDeadLetter says once, at start, what becomes of records a sink
// keeps rejecting when there is no dead-letter sink.
func (p *Pipeline) warnNoDeadLetter() {
	if p.settings.DeadLetter != nil {
		return
	}
	if p.settings.FailFast {
		p.log.Warn("no dead-letter sink (deadletter.path or deadletter.export): a batch a sink still rejects after every retry stops the run (retry.failfast)",
			"retry.max", p.settings.RetryMax)
		return
	}
	p.log.Warn("no dead-letter sink (deadletter.path or deadletter.export): records a sink keeps rejecting are retried until it takes them, "+
		"holding back their stream, and are lost if the process stops first; set retry.failfast to stop the run instead",
		"retry.max", p.settings.RetryMax)
}

// retry runs a failed batch again, up to RetryMax times, with delays
// doubling from RetryInitial up to 10s. It gives up at once when the
// pipeline aborts (shutdown deadline, fail-fast), so that no retry outlives
// the deadline.
func (p *Pipeline) retry(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		if p.abortCtx.Err() != nil {
			// redelivered after the pipeline gave up: not tried again
			return nil, fmt.Errorf("not written: %w", context.Cause(p.abortCtx))
		}
		delay := p.settings.RetryInitial
		frontier := -1
		for n := 0; ; n++ {
			out, err := h(msg)
			if err == nil {
				return out, err
			}
			if f := p.frontierOf(msg); f > frontier {
				// some chunks were written since the last attempt: the
				// sinks take records, count the retries from here
				if frontier >= 0 {
					n, delay = 0, p.settings.RetryInitial
				}
				frontier = f
			}
			if n >= p.settings.RetryMax {
				return out, err
			}
			if p.abortCtx.Err() != nil {
				return out, fmt.Errorf("%w (retries abandoned: %w)", err, context.Cause(p.abortCtx))
			}
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-p.abortCtx.Done():
				t.Stop()
				return out, fmt.Errorf("%w (retries abandoned: %w)", err, context.Cause(p.abortCtx))
			}
			p.metrics.retries.Inc()
			delay = min(2*delay, 10*time.Second)
		}
	}
}

// failFast stops the run when a batch still fails after every retry
// (FailFast without a dead-letter sink).
func (p *Pipeline) failFast(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if err != nil && p.abortCtx.Err() == nil {
			p.stop(fmt.Errorf("stopping the run (retry.failfast): a batch still failed after %d retries and no dead-letter sink is set: %w",
				p.settings.RetryMax, err))
		}
		return out, err
	}
}

// reportLost logs, per sink, the events of the batches the router gave up
// on (neither written nor dead-lettered), and returns an error when there
// are any. Call it once the router has stopped.
func (p *Pipeline) reportLost() error {
	p.mu.Lock()
	lost := make([]int, len(p.sinks))
	batches := 0
	for b, st := range p.progress {
		batches++
		for ci := range st.chunks {
			c := &st.chunks[ci]
			for i, k := range p.sinks {
				switch {
				case c.done[i]:
				case k.Raw && len(b.Records) > 0:
					lost[i] += c.hi - c.lo
				case k.Raw:
				case c.flat:
					lost[i] += len(c.events)
				default:
					lost[i] += c.hi - c.lo // never flattened: its records
				}
			}
		}
	}
	p.mu.Unlock()
	if batches == 0 {
		return nil
	}
	var attrs []any
	var parts []string
	total := 0
	for i, n := range lost {
		if n > 0 {
			attrs = append(attrs, p.sinks[i].Name, n)
			parts = append(parts, fmt.Sprintf("%s: %d", p.sinks[i].Name, n))
			total += n
		}
	}
	p.log.Error("records lost: not written and no dead-letter sink took them",
		append([]any{"batches", batches, "records", total}, slog.Group("per_sink", attrs...))...)
	return fmt.Errorf("%w: %d records of %d batches (per sink, before its policies: %s)", ErrRecordsLost, total, batches, strings.Join(parts, ", "))
}

func (p *Pipeline) closeAll() error {
	var errs []error
	for _, s := range p.sinks {
		if err := s.Pub.Close(); err != nil {
			errs = append(errs, fmt.Errorf("sink %s: %w", s.Name, err))
		}
	}
	if p.settings.DeadLetter != nil {
		if err := p.settings.DeadLetter.Close(); err != nil {
			errs = append(errs, fmt.Errorf("dead-letter sink: %w", err))
		}
	}
	for _, c := range p.closers {
		if err := c(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p *Pipeline) flattener(source string) *flatten.Flattener {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, ok := p.flatteners[source]
	if !ok {
		f = flatten.New(p.flatCfg)
		p.flatteners[source] = f
		// a new connection or file starts a new stream; retire the others'
		// tables, which a header would reset anyway
		for k := range p.flatteners {
			if k != source && len(p.flatteners) > 4 {
				delete(p.flatteners, k)
			}
		}
	}
	return f
}

func (p *Pipeline) forget(b *sysflow.Batch) {
	p.mu.Lock()
	delete(p.progress, b)
	p.mu.Unlock()
}

func cloneEvents(events []*sysflow.Event) []*sysflow.Event {
	out := make([]*sysflow.Event, len(events))
	slab := make([]sysflow.Event, len(events))
	for i, e := range events {
		slab[i] = *e
		slab[i].Matches, slab[i].Tags = nil, nil
		out[i] = &slab[i]
	}
	return out
}

// deadLetterPublisher hands a poisoned batch's undelivered events to the
// dead-letter sink with the reason in the message metadata.
type deadLetterPublisher struct{ p *Pipeline }

func (d deadLetterPublisher) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		b := sysflow.BatchOf(m)
		if b == nil {
			continue
		}
		st := d.p.progressOf(b, nil)
		reason := m.Metadata.Get(middleware.ReasonForPoisonedKey)
		events, unflattened := st.events(b)
		if unflattened > 0 {
			d.p.log.Error("records lost: the dead-letter sink gets flat events and these were never flattened",
				"records", unflattened, "source", b.Source, "reason", reason)
		}
		out := sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), &sysflow.Batch{Source: b.Source, Events: events})
		out.Metadata.Set("reason", reason)
		out.Metadata.Set("source", b.Source)
		if err := d.p.settings.DeadLetter.Publish(topic, out); err != nil {
			return err
		}
		d.p.metrics.deadLettered.Add(float64(len(events)))
		d.p.log.Error("records sent to the dead-letter sink", "records", len(events), "source", b.Source, "reason", reason)
		d.p.forget(b)
	}
	return nil
}

func (deadLetterPublisher) Close() error { return nil }

// watermillLogger adapts slog to Watermill's logger, keeping its chatter at
// debug level.
type watermillLogger struct{ l *slog.Logger }

func (w watermillLogger) args(f watermill.LogFields) []any {
	out := make([]any, 0, 2*len(f))
	for k, v := range f {
		out = append(out, k, v)
	}
	return out
}
func (w watermillLogger) Error(msg string, err error, f watermill.LogFields) {
	switch msg {
	case "All handlers stopped, closing router":
		// the normal end of a finished or stopped source, not an error
		w.l.Debug(msg, w.args(f)...)
		return
	case "Handler returned error":
		// a batch redelivered after its retries: the pipeline logs sink
		// failures itself, at once and then rate-limited (sinkFailed),
		// and transform failures in runStage
		w.l.Debug(msg, append(w.args(f), "error", err)...)
		return
	}
	w.l.Error(msg, append(w.args(f), "error", err)...)
}
func (w watermillLogger) Info(msg string, f watermill.LogFields)  { w.l.Debug(msg, w.args(f)...) }
func (w watermillLogger) Debug(msg string, f watermill.LogFields) { w.l.Debug(msg, w.args(f)...) }
func (w watermillLogger) Trace(msg string, f watermill.LogFields) {}
func (w watermillLogger) With(f watermill.LogFields) watermill.LoggerAdapter {
	return watermillLogger{w.l.With(w.args(f)...)}
}
