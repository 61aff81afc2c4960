package elasticsearch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/sfconnector/sfconnector/internal/bus"
	"github.com/sfconnector/sfconnector/sysflow"
)

// ErrClosed is returned by Publish after Close or Abort.
var ErrClosed = errors.New("elasticsearch sink: closed or aborted")

// maxBackoff caps the delay between two rounds of re-sending items.
const maxBackoff = 5 * time.Second

// Stats count the sink's items by outcome.
type Stats struct {
	Indexed    int64 // documents created
	Duplicates int64 // "create" refused with 409: written by an earlier attempt
	Retried    int64 // items sent again after 429, 5xx or a failed bulk request
	Rejected   int64 // items refused for good, handed to the dead-letter sink
}

// Sink indexes events in Elasticsearch.
//
// Concurrency: Publish calls run one at a time (mu), because a Publish ends
// with the indexer's Flush, which waits for everything queued, and reads
// the outcome its items' callbacks wrote. The callbacks run on the
// indexer's workers; each writes only its own item, and Flush returning
// orders those writes before Publish reads them. The indexer's workers are
// owned by the indexer and end in Close.
type Sink struct {
	cfg   Config
	index IndexPattern
	bi    esutil.BulkIndexer

	ctx    context.Context // cancelled by Close: ends back-off waits and queued requests
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	buf    []byte
	items  []item

	indexed, duplicates, retried, rejected atomic.Int64
}

type itemState uint8

const (
	stateUnknown itemState = iota // no answer yet (or none in the response)
	stateCreated
	stateDuplicate
	stateRetry
	stateRejected
)

type item struct {
	ev     *sysflow.Event
	source string
	index  string
	id     string
	doc    []byte
	state  itemState
	reason string
}

// New builds the sink. It reads the secret and CA files; it does not
// connect (the first Publish does).
func New(cfg Config) (*Sink, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	idx, err := ParseIndexPattern(cfg.Index)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch sink: key es.index: %w", err)
	}
	tlsCfg := cfg.TLS
	tlsCfg.Enable = true // applies to https:// addresses only
	tc, err := tlsCfg.Build("es")
	if err != nil {
		return nil, fmt.Errorf("elasticsearch sink: %w", err)
	}
	password, err := bus.ReadSecret("es.password_file", cfg.Password, cfg.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch sink: %w", err)
	}
	apiKey, err := bus.ReadSecret("es.apikey_file", cfg.APIKey, cfg.APIKeyFile)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch sink: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.ResponseHeaderTimeout = cfg.Timeout
	tr.MaxIdleConnsPerHost = cfg.NumWorkers + 1
	client, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses: cfg.Addresses, Username: cfg.Username, Password: password.Reveal(), APIKey: apiKey.Reveal(),
		Transport: tr,
		// the sink retries items itself, knowing which ones failed; the
		// transport's retries would resend whole requests behind its back
		DisableRetry: true,
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch sink: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sink{cfg: cfg, index: idx, ctx: ctx, cancel: cancel}
	s.bi, err = esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client: client, NumWorkers: cfg.NumWorkers, FlushBytes: cfg.FlushBytes, FlushInterval: cfg.FlushInterval,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("elasticsearch sink: %w", err)
	}
	return s, nil
}

// Stats returns the item counters.
func (s *Sink) Stats() Stats {
	return Stats{Indexed: s.indexed.Load(), Duplicates: s.duplicates.Load(), Retried: s.retried.Load(), Rejected: s.rejected.Load()}
}

// Publish indexes the events of msgs and returns once each one is
// acknowledged by Elasticsearch or handed to the dead-letter sink.
func (s *Sink) Publish(_ string, msgs ...*message.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// after an abort, callbacks of the cut-short round may still write to
	// the items that prepare would reuse
	if s.closed || s.ctx.Err() != nil {
		return ErrClosed
	}
	items, err := s.prepare(msgs)
	if err != nil || len(items) == 0 {
		return err
	}
	todo := make([]*item, len(items))
	for i := range items {
		todo[i] = &items[i]
	}
	if err := s.deliver(todo); err != nil {
		return err
	}
	return s.deadLetter(todo)
}

// prepare encodes every event once; retries send the same bytes.
func (s *Sink) prepare(msgs []*message.Message) ([]item, error) {
	s.buf = s.buf[:0]
	s.items = s.items[:0]
	var ends []int
	for _, m := range msgs {
		b := sysflow.BatchOf(m)
		if b == nil {
			return nil, fmt.Errorf("elasticsearch sink: message %s carries no events", m.UUID)
		}
		if len(b.Records) > 0 && len(b.Events) == 0 {
			return nil, errors.New("elasticsearch sink: raw SysFlow records cannot be indexed: export flat events")
		}
		for _, ev := range b.Events {
			var err error
			if s.buf, err = s.cfg.Encoder.AppendEvent(s.buf, ev); err != nil {
				return nil, fmt.Errorf("elasticsearch sink: encoding an event of %s: %w", b.Source, err)
			}
			ends = append(ends, len(s.buf))
			s.items = append(s.items, item{ev: ev, source: b.Source, index: s.index.Expand(ev.TS), id: DocumentID(ev)})
		}
	}
	// slices are taken once the buffer stopped growing
	start := 0
	for i := range s.items {
		s.items[i].doc = s.buf[start:ends[i]:ends[i]]
		start = ends[i]
	}
	return s.items, nil
}

// deliver sends items until each is created, known already there or
// refused for good, re-sending the others with back-off.
func (s *Sink) deliver(all []*item) error {
	todo := all
	delay := min(s.cfg.RetryInitial, maxBackoff)
	for attempt := 0; ; attempt++ {
		if err := s.round(todo); err != nil {
			return err
		}
		var again []*item
		for _, it := range todo {
			switch it.state {
			case stateCreated:
				s.indexed.Add(1)
			case stateDuplicate:
				s.duplicates.Add(1)
			case stateRejected:
			default:
				again = append(again, it)
			}
		}
		if len(again) == 0 {
			return nil
		}
		if attempt >= s.cfg.MaxRetries {
			return fmt.Errorf("elasticsearch sink: %d of %d documents not acknowledged after %d attempts, e.g. %s: %s",
				len(again), len(all), attempt+1, again[0].index, again[0].reason)
		}
		s.retried.Add(int64(len(again)))
		s.cfg.Logger.Debug("elasticsearch sink: sending items again", "items", len(again), "delay", delay, "reason", again[0].reason)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return ErrClosed
		}
		delay = min(delay*2, maxBackoff)
		todo = again
	}
}

// round sends todo through the bulk indexer and waits for every answer.
func (s *Sink) round(todo []*item) error {
	for _, it := range todo {
		it.state, it.reason = stateUnknown, "the bulk response had no result for the item"
		err := s.bi.Add(s.ctx, esutil.BulkIndexerItem{
			Index: it.index, Action: "create", DocumentID: it.id, Body: bytes.NewReader(it.doc),
			OnSuccess: func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) {
				it.state = stateCreated
			},
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
				it.state, it.reason = classify(r, err)
			},
		})
		if err != nil {
			if s.ctx.Err() != nil {
				return ErrClosed
			}
			return fmt.Errorf("elasticsearch sink: %w", err)
		}
	}
	if err := s.bi.Flush(s.ctx); err != nil {
		if s.ctx.Err() != nil {
			return ErrClosed
		}
		return fmt.Errorf("elasticsearch sink: %w", err)
	}
	return nil
}

// classify turns a failed item's answer into what to do with it. err is
// set when the whole request failed (no connection, a 429 or 5xx answer):
// the server may or may not have written the item, and re-sending it is
// safe because of the create action.
func classify(r esutil.BulkIndexerResponseItem, err error) (itemState, string) {
	if err != nil {
		return stateRetry, err.Error()
	}
	reason := fmt.Sprintf("elasticsearch: status %d", r.Status)
	if r.Error.Type != "" {
		reason += ": " + r.Error.Type + ": " + r.Error.Reason
		if r.Error.Cause.Type != "" {
			reason += " (caused by " + r.Error.Cause.Type + ": " + r.Error.Cause.Reason + ")"
		}
	}
	switch {
	case r.Status == http.StatusConflict:
		return stateDuplicate, reason
	case r.Status == http.StatusTooManyRequests || r.Status >= 500:
		return stateRetry, reason
	case r.Status >= 400:
		return stateRejected, reason
	}
	// a 2xx with an error object, or a status no bulk answer has
	return stateRetry, reason
}

// deadLetter hands the refused items to the dead-letter sink, one message
// per item with its reason; without one, Publish fails naming them.
func (s *Sink) deadLetter(items []*item) error {
	var rejected []*item
	for _, it := range items {
		if it.state == stateRejected {
			rejected = append(rejected, it)
		}
	}
	if len(rejected) == 0 {
		return nil
	}
	if s.cfg.DeadLetter == nil {
		reasons := map[string]int{}
		for _, it := range rejected {
			reasons[it.reason]++
		}
		keys := make([]string, 0, len(reasons))
		for r := range reasons {
			keys = append(keys, r)
		}
		sort.Strings(keys)
		return fmt.Errorf("elasticsearch sink: %d documents refused and no dead-letter sink is configured: %s",
			len(rejected), strings.Join(keys, "; "))
	}
	out := make([]*message.Message, 0, len(rejected))
	for _, it := range rejected {
		m := sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), &sysflow.Batch{Source: it.source, Events: []*sysflow.Event{it.ev}})
		m.Metadata.Set("reason", fmt.Sprintf("index %s, _id %s: %s", it.index, it.id, it.reason))
		m.Metadata.Set("source", it.source)
		out = append(out, m)
	}
	if err := s.cfg.DeadLetter.Publish("deadletter", out...); err != nil {
		// the batch is retried: the created documents answer 409 then
		return fmt.Errorf("elasticsearch sink: sending %d refused documents to the dead-letter sink: %w", len(rejected), err)
	}
	s.rejected.Add(int64(len(rejected)))
	s.cfg.Logger.Error("elasticsearch sink: documents refused, sent to the dead-letter sink", "documents", len(rejected), "reason", rejected[0].reason)
	return nil
}

// Abort gives up on what is in flight (the pipeline's shutdown deadline
// passed): back-off waits and bulk requests in progress end, and Publish
// returns ErrClosed; the pipeline accounts for the batch. Documents the
// server wrote before the abort answer 409 when the batch comes again.
func (s *Sink) Abort() { s.cancel() }

// Close stops the indexer. A Publish in progress ends with ErrClosed.
func (s *Sink) Close() error {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	if err := s.bi.Close(ctx); err != nil {
		return fmt.Errorf("elasticsearch sink: %w", err)
	}
	return nil
}
