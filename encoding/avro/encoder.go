package avro

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/sfconnector/sfconnector/encoding"
	"github.com/sfconnector/sfconnector/sysflow"
)

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// Encoder writes the configured schema (Config.Schema) in the Confluent wire
// format. Bus sinks call ForDestination once per topic or subject to get
// the encoder bound to that topic's subject; the Encoder itself writes to
// the subject of Config.Subject with {topic} unexpanded only when the
// subject has no placeholder.
type Encoder struct {
	reg    *Registry
	schema Schema
	text   string
	steps  []step // event and alert writers; nil for records
}

// NewEncoder returns an encoder using reg's registry.
func NewEncoder(reg *Registry) (*Encoder, error) {
	text, err := reg.cfg.Schema.Text()
	if err != nil {
		return nil, err
	}
	e := &Encoder{reg: reg, schema: reg.cfg.Schema, text: text}
	switch e.schema {
	case SchemaEvent:
		e.steps, err = eventWriter()
	case SchemaAlert:
		e.steps, err = alertWriter()
	}
	if err != nil {
		return nil, fmt.Errorf("avro: %s schema does not match the field registry: %w", e.schema, err)
	}
	return e, nil
}

// ForDestination returns the encoder for topic: its schema is registered
// under the topic's subject on the first write.
func (e *Encoder) ForDestination(topic string) (encoding.Encoder, error) {
	return &TopicEncoder{e: e, subject: e.reg.subject(topic)}, nil
}

// AppendEvent implements encoding.Encoder for a subject without {topic}.
func (e *Encoder) AppendEvent(dst []byte, ev *sysflow.Event) ([]byte, error) {
	te, err := e.fixed()
	if err != nil {
		return dst, err
	}
	return te.AppendEvent(dst, ev)
}

// AppendRecord forwards a raw record, for a subject without {topic}.
func (e *Encoder) AppendRecord(dst []byte, r *sysflow.Record) ([]byte, error) {
	te, err := e.fixed()
	if err != nil {
		return dst, err
	}
	return te.AppendRecord(dst, r)
}

func (e *Encoder) fixed() (*TopicEncoder, error) {
	s := e.reg.cfg.Subject
	if s == "" || containsTopic(s) {
		return nil, errors.New("avro: the subject depends on the topic ({topic}); use ForDestination")
	}
	return &TopicEncoder{e: e, subject: s}, nil
}

func containsTopic(s string) bool {
	for i := 0; i+7 <= len(s); i++ {
		if s[i:i+7] == "{topic}" {
			return true
		}
	}
	return false
}

// TopicEncoder writes to one subject. It is safe for concurrent use.
type TopicEncoder struct {
	e       *Encoder
	subject string

	id     atomic.Int64 // the schema id + 1 once registered; 0 before
	mu     sync.Mutex
	flight *idLookup // the registration in progress, if any
}

// idLookup is one registration attempt that concurrent writers share.
type idLookup struct {
	done chan struct{} // closed when id and err are set
	id   int
	err  error
}

// schemaID returns the subject's schema id, registering it on first use.
// Concurrent callers share one registry request; a failed one is not
// cached, so the next write asks the registry again.
func (t *TopicEncoder) schemaID() (int, error) {
	if v := t.id.Load(); v != 0 {
		return int(v - 1), nil
	}
	t.mu.Lock()
	if v := t.id.Load(); v != 0 {
		t.mu.Unlock()
		return int(v - 1), nil
	}
	l := t.flight
	if l != nil {
		t.mu.Unlock()
		<-l.done
		return l.id, l.err
	}
	l = &idLookup{done: make(chan struct{})}
	t.flight = l
	t.mu.Unlock()

	l.id, l.err = t.e.reg.Register(t.subject, t.e.text)
	t.mu.Lock()
	if l.err == nil {
		t.id.Store(int64(l.id) + 1)
	}
	t.flight = nil
	t.mu.Unlock()
	close(l.done)
	return l.id, l.err
}

// AppendEvent appends ev as a FlatEvent or an Alert.
func (t *TopicEncoder) AppendEvent(dst []byte, ev *sysflow.Event) ([]byte, error) {
	if t.e.steps == nil {
		return dst, fmt.Errorf("avro: the %s schema holds raw records, not events", t.e.schema)
	}
	id, err := t.schemaID()
	if err != nil {
		return dst, err
	}
	return runSteps(AppendHeader(dst, id), t.e.steps, ev), nil
}

// AppendRecord appends a raw SysFlow record as the v5 union.
func (t *TopicEncoder) AppendRecord(dst []byte, r *sysflow.Record) ([]byte, error) {
	if t.e.schema != SchemaRecord {
		return dst, fmt.Errorf("avro: raw records need the record schema (this encoder writes %s; kafka.encoding or nats.encoding raw)", t.e.schema)
	}
	id, err := t.schemaID()
	if err != nil {
		return dst, err
	}
	n := len(dst)
	out, err := sysflow.AppendDatum(AppendHeader(dst, id), r)
	if err != nil {
		return dst[:n], fmt.Errorf("avro: %w", err)
	}
	return out, nil
}
