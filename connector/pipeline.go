package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	closers   []func() error

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
	Logger          *slog.Logger
	Metrics         *Metrics
	// HeapFloor, when not zero, keeps the garbage collector's heap goal at
	// this many bytes or more while Run runs (see heapFloor). It changes
	// a process-wide setting: Build sets DefaultHeapFloor for the
	// command's pipeline; GOGC or GOMEMLIMIT in the environment turn it off.
	HeapFloor uint64
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
}

type progress struct {
	events []*sysflow.Event
	done   []bool // per sink index
	// id is the batch's message id at first sight; a sink's message id is
	// derived from it, so every attempt of a batch carries the same one
	// (the NATS sink's Nats-Msg-Id, which JetStream de-duplicates)
	id string
}

// New assembles a pipeline from its parts. closers run after the router
// stopped (sinks are closed there too).
func New(src Source, root *Stage, flatCfg flatten.Config, settings Settings, closers ...func() error) *Pipeline {
	settings.setDefaults()
	p := &Pipeline{source: src, root: root, flatCfg: flatCfg, settings: settings, log: settings.Logger,
		metrics: settings.Metrics, flatteners: map[string]*flatten.Flattener{}, progress: map[*sysflow.Batch]*progress{},
		sinkIndex: map[*Sink]int{}, closers: closers}
	var walk func(*Stage)
	walk = func(s *Stage) {
		for _, k := range s.Sinks {
			p.sinkIndex[k] = len(p.sinks)
			p.sinks = append(p.sinks, k)
		}
		for _, c := range s.Children {
			walk(c)
		}
	}
	walk(root)
	p.written = make([]atomic.Int64, len(p.sinks))
	p.failed = make([]atomic.Int64, len(p.sinks))
	return p
}

// ErrShutdownTimeout means the drain did not finish within the deadline.
var ErrShutdownTimeout = errors.New("shutdown deadline exceeded before every in-flight record was written")

// Run runs the pipeline until the source has finished (files) or ctx is
// cancelled (a signal), then drains: in-flight batches are written, sinks
// flushed and closed, within Settings.ShutdownTimeout.
func (p *Pipeline) Run(ctx context.Context) error {
	defer startHeapFloor(p.settings.HeapFloor).Stop()
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: p.settings.ShutdownTimeout},
		watermillLogger{p.log})
	if err != nil {
		return err
	}
	// The first middleware added is the outermost: batches of one stream
	// run one at a time in delivery order (streamOrder), the dead-letter
	// sink gets a batch only after every retry failed, and a panic is an
	// error that is retried like any other.
	order := newStreamOrder()
	router.AddMiddleware(order.middleware)
	if p.settings.DeadLetter != nil {
		pq, err := middleware.PoisonQueue(deadLetterPublisher{p}, "deadletter")
		if err != nil {
			return err
		}
		router.AddMiddleware(pq)
	}
	if p.settings.RetryMax > 0 {
		router.AddMiddleware(middleware.Retry{
			MaxRetries:      p.settings.RetryMax,
			InitialInterval: p.settings.RetryInitial,
			Multiplier:      2,
			MaxInterval:     10 * time.Second,
			OnRetryHook: func(n int, delay time.Duration) {
				p.metrics.retries.Inc()
			},
		}.Middleware)
	}
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

	var stopErr error
	select {
	case <-p.source.Done():
		// every batch was acknowledged
	case <-ctx.Done():
		p.log.Info("stopping: draining in-flight records", "deadline", p.settings.ShutdownTimeout)
		stopErr = p.drain()
	}
	if err := router.Close(); err != nil && stopErr == nil {
		stopErr = fmt.Errorf("closing router: %w", err)
	}
	<-runErr
	cancelRun()
	closeErr := p.closeAll()
	return errors.Join(stopErr, closeErr, p.source.Err())
}

// drain closes the source (no new input) and waits for the in-flight batch.
func (p *Pipeline) drain() error {
	done := make(chan struct{})
	go func() {
		p.source.Close()
		close(done)
	}()
	t := time.NewTimer(p.settings.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return ErrShutdownTimeout
	}
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

func (p *Pipeline) progressOf(b *sysflow.Batch) (*progress, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.progress[b]
	if !ok {
		st = &progress{done: make([]bool, len(p.sinks))}
		p.progress[b] = st
	}
	return st, ok
}

func (p *Pipeline) forget(b *sysflow.Batch) {
	p.mu.Lock()
	delete(p.progress, b)
	p.mu.Unlock()
}

// handle runs one batch message through the tree.
func (p *Pipeline) handle(msg *message.Message) error {
	b := sysflow.BatchOf(msg)
	if b == nil {
		return fmt.Errorf("message %s carries no batch", msg.UUID)
	}
	st, seen := p.progressOf(b)
	if !seen {
		start := time.Now()
		p.metrics.recordsIn.Add(float64(len(b.Records) + len(b.Events)))
		p.recordsRead.Add(int64(len(b.Records) + len(b.Events)))
		events := b.Events
		if len(b.Records) > 0 {
			f := p.flattener(b.Source)
			events = f.Flatten(b.Records, events[:len(events):len(events)])
			p.metrics.observeFlattener(f)
		}
		st.events = events
		p.eventsMade.Add(int64(len(events)))
		st.id = msg.UUID
		if st.id == "" {
			st.id = watermill.NewUUID()
		}
		p.metrics.stageSeconds.WithLabelValues("flatten").Observe(time.Since(start).Seconds())
		p.metrics.batchSize.Observe(float64(len(events)))
	}
	if err := p.runStage(msg.Context(), p.root, st.events, st, b); err != nil {
		return err
	}
	p.forget(b)
	return nil
}

func (p *Pipeline) runStage(ctx context.Context, s *Stage, events []*sysflow.Event, st *progress, in *sysflow.Batch) error {
	if s.Transform != nil {
		start := time.Now()
		// A transform may reorder or compact the slice it is given (the
		// policy stage drops events in place); it gets its own, so the
		// batch's events stay whole for a retry, the dead-letter sink and
		// the stage's siblings.
		var err error
		events, err = s.Transform.Process(ctx, slices.Clone(events))
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		p.metrics.stageSeconds.WithLabelValues(s.Name).Observe(time.Since(start).Seconds())
	}
	var errs []error
	for _, k := range s.Sinks {
		i := p.sinkIndex[k]
		if st.done[i] {
			continue
		}
		out := &sysflow.Batch{Source: in.Source, Events: events}
		n := len(events)
		if k.Raw {
			out = &sysflow.Batch{Source: in.Source, Records: in.Records}
			n = len(in.Records)
		}
		if n > 0 {
			start := time.Now()
			msg := sysflow.WithBatch(message.NewMessage(st.id+"/"+k.Name, nil), out)
			if err := k.Pub.Publish(k.Name, msg); err != nil {
				p.metrics.sinkErrors.WithLabelValues(k.Name).Inc()
				p.failed[i].Add(1)
				p.log.Warn("sink write failed", "sink", k.Name, "records", n, "error", err)
				errs = append(errs, fmt.Errorf("sink %s: %w", k.Name, err))
				continue
			}
			p.metrics.sinkSeconds.WithLabelValues(k.Name).Observe(time.Since(start).Seconds())
			p.metrics.recordsOut.WithLabelValues(k.Name).Add(float64(n))
			p.written[i].Add(int64(n))
		}
		st.done[i] = true
	}
	// Children of a fan-out each get their own copies: a policy stage sets
	// matches on the events it is given.
	for i, c := range s.Children {
		sub := events
		if c.Transform != nil && len(s.Children) > 1 && i > 0 {
			sub = cloneEvents(events)
		}
		if err := p.runStage(ctx, c, sub, st, in); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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
		st, _ := d.p.progressOf(b)
		reason := m.Metadata.Get(middleware.ReasonForPoisonedKey)
		out := sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), &sysflow.Batch{Source: b.Source, Events: st.events})
		out.Metadata.Set("reason", reason)
		out.Metadata.Set("source", b.Source)
		if err := d.p.settings.DeadLetter.Publish(topic, out); err != nil {
			return err
		}
		d.p.metrics.deadLettered.Add(float64(len(st.events)))
		d.p.log.Error("records sent to the dead-letter sink", "records", len(st.events), "source", b.Source, "reason", reason)
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
	if msg == "All handlers stopped, closing router" {
		// the normal end of a finished or stopped source, not an error
		w.l.Debug(msg, w.args(f)...)
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
