package bus

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/encoding"
	"github.com/sfconnector/sfconnector/sysflow"
)

// RecordEncoder is implemented by encodings that can forward raw SysFlow
// records unchanged (registry Avro's record schema). A bus sink given a
// batch of records needs its encoder to implement it.
type RecordEncoder interface {
	AppendRecord(dst []byte, r *sysflow.Record) ([]byte, error)
}

// DestinationEncoder is implemented by encodings whose bytes depend on the
// destination, like registry Avro, whose schema id is the one registered
// under "<topic>-value". A bus sink asks it once per destination.
type DestinationEncoder interface {
	ForDestination(dest string) (encoding.Encoder, error)
}

// BatchEncoder is implemented by encodings whose one wire message holds
// many events (OTLP LogsData). A bus sink groups a batch's events by
// destination and key, keeping their order within each group, and hands
// each group over until the encoder has taken all of it: AppendEvents
// appends one message holding the first n events (n >= 1) and returns n.
type BatchEncoder interface {
	AppendEvents(dst []byte, evs []*sysflow.Event) ([]byte, int, error)
}

// Decoder turns the value of one wire message into the events or records it
// holds, appended to b. Bus sources use it to fill the batches they deliver.
type Decoder interface {
	Decode(ctx context.Context, value []byte, b *Batch) error
}

// Batch is sysflow.Batch, named here so Decoder reads naturally.
type Batch = sysflow.Batch

// Message is one wire message.
type Message struct {
	Dest  string
	Key   []byte
	Value []byte
}

// KeyMetadata is the Watermill metadata key whose value becomes the wire key
// of a message that carries a payload instead of a batch.
const KeyMetadata = "key"

// Builder turns Watermill messages into wire messages: one per event of the
// message's batch (or per raw record when the batch has no events), or one
// for the payload of a message without a batch. It is safe for concurrent
// use.
type Builder struct {
	dest    *Template
	key     *Template
	safe    func(byte) bool
	encoder encoding.Encoder

	avg atomic.Int64 // bytes per event (or record, or payload) seen last, to size the next buffer

	mu      sync.Mutex
	encs    map[string]encoding.Encoder // per destination, for DestinationEncoders
	headers map[string]*sysflow.Header  // last header seen per batch source, for raw records
}

// NewBuilder returns a Builder writing to dest with keys from key (nil: no
// key). safe filters the bytes of expanded destination values.
func NewBuilder(dest, key *Template, safe func(byte) bool, enc encoding.Encoder) *Builder {
	return &Builder{dest: dest, key: key, safe: safe, encoder: enc,
		encs: map[string]encoding.Encoder{}, headers: map[string]*sysflow.Header{}}
}

func (b *Builder) encoderFor(dest string) (encoding.Encoder, error) {
	de, ok := b.encoder.(DestinationEncoder)
	if !ok {
		return b.encoder, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.encs[dest]; ok {
		return e, nil
	}
	e, err := de.ForDestination(dest)
	if err != nil {
		return nil, fmt.Errorf("encoding for %q: %w", dest, err)
	}
	b.encs[dest] = e
	return e, nil
}

// Build appends the wire messages of msgs to out. All values share one
// buffer, so a batch costs a few allocations, not one per event.
func (b *Builder) Build(msgs []*message.Message, out []Message) ([]Message, error) {
	out, _, err := b.BuildInto(msgs, out, nil)
	return out, err
}

// BuildInto is Build writing the keys and values into arena's memory
// (from arena[:0]) when it is large enough for the batch, and returns the
// buffer they are in for the caller to pass to the next call once nothing
// refers to the previous messages: a sink that reuses it saves allocating
// and zeroing a buffer of the batch's size on every call.
func (b *Builder) BuildInto(msgs []*message.Message, out []Message, arena []byte) ([]Message, []byte, error) {
	n := 0
	for _, msg := range msgs {
		if b := sysflow.BatchOf(msg); b != nil {
			n += len(b.Events) + len(b.Records)
		} else {
			n++
		}
	}
	// One buffer sized from the last batches' average: growing it by
	// doubling would copy a large batch several times.
	if need := n * int(max(b.avg.Load(), 64)) * 9 / 8; cap(arena) < need {
		arena = make([]byte, 0, need)
	}
	arena = arena[:0]
	start := len(out)
	spans := make([]span, 0, n)
	var destBuf []byte
	lastDest := ""
	for _, msg := range msgs {
		batch := sysflow.BatchOf(msg)
		if batch == nil {
			if len(msg.Payload) == 0 {
				return out, arena, fmt.Errorf("message %s: %w", msg.UUID, ErrNoBatch)
			}
			dest := b.dest.Expand(nil, b.safe)
			s := span{kStart: len(arena)}
			arena = append(arena, msg.Metadata.Get(KeyMetadata)...)
			s.kEnd, s.vStart = len(arena), len(arena)
			arena = append(arena, msg.Payload...)
			s.vEnd = len(arena)
			spans = append(spans, s)
			out = append(out, Message{Dest: dest})
			continue
		}
		if be, ok := b.encoder.(BatchEncoder); ok && len(batch.Events) > 0 {
			var err error
			arena, spans, out, err = b.buildGrouped(be, batch.Events, arena, spans, out)
			if err != nil {
				return out, arena, err
			}
			continue
		}
		if len(batch.Events) > 0 {
			for _, ev := range batch.Events {
				destBuf = b.dest.Append(destBuf[:0], ev, b.safe)
				if string(destBuf) != lastDest { // no allocation for the comparison
					lastDest = string(destBuf)
				}
				enc, err := b.encoderFor(lastDest)
				if err != nil {
					return out, arena, err
				}
				s := span{kStart: len(arena)}
				if b.key != nil {
					arena = b.key.Append(arena, ev, AnySafe)
				}
				s.kEnd, s.vStart = len(arena), len(arena)
				arena, err = enc.AppendEvent(arena, ev)
				if err != nil {
					return out, arena, fmt.Errorf("encode event (ts %d) for %q: %w", ev.TS, lastDest, err)
				}
				s.vEnd = len(arena)
				spans = append(spans, s)
				out = append(out, Message{Dest: lastDest})
			}
			continue
		}
		for i := range batch.Records {
			r := &batch.Records[i]
			if r.Kind == sysflow.KindHeader && r.Header != nil {
				b.mu.Lock()
				b.headers[batch.Source] = r.Header
				b.mu.Unlock()
			}
			b.mu.Lock()
			ev := &sysflow.Event{Kind: r.Kind, Header: b.headers[batch.Source]}
			b.mu.Unlock()
			// Every record of a stream gets the same destination and key
			// (the node's): entities must stay ahead of the events that use
			// them, in one partition.
			ev.Kind = sysflow.KindUnknown
			destBuf = b.dest.Append(destBuf[:0], ev, b.safe)
			if string(destBuf) != lastDest {
				lastDest = string(destBuf)
			}
			enc, err := b.encoderFor(lastDest)
			if err != nil {
				return out, arena, err
			}
			re, ok := enc.(RecordEncoder)
			if !ok {
				return out, arena, fmt.Errorf("batch of raw records from %q: the configured encoding (%T) cannot encode raw SysFlow records; use the avro encoding with the record schema", batch.Source, enc)
			}
			s := span{kStart: len(arena)}
			if b.key != nil {
				arena = b.key.Append(arena, ev, AnySafe)
			}
			s.kEnd, s.vStart = len(arena), len(arena)
			arena, err = re.AppendRecord(arena, r)
			if err != nil {
				return out, arena, fmt.Errorf("encode %s record from %q: %w", r.Kind, batch.Source, err)
			}
			s.vEnd = len(arena)
			spans = append(spans, s)
			out = append(out, Message{Dest: lastDest})
		}
	}
	if n > 0 && len(spans) > 0 {
		// per event or record, not per wire message: a batch encoder puts
		// many in one
		b.avg.Store(int64(len(arena) / n))
	}
	for i, s := range spans {
		m := &out[start+i]
		if s.kEnd > s.kStart {
			m.Key = arena[s.kStart:s.kEnd:s.kEnd]
		}
		m.Value = arena[s.vStart:s.vEnd:s.vEnd]
	}
	return out, arena, nil
}

type span struct{ kStart, kEnd, vStart, vEnd int }

// eventGroup is the events of a batch that share a destination and a key.
type eventGroup struct {
	dest, key string
	events    []*sysflow.Event
}

// buildGrouped writes events through a BatchEncoder: one wire message per
// run the encoder takes from each destination-and-key group. Groups are
// written in the order of their first event and keep their events' order,
// so events of one key stay in order in their partition.
func (b *Builder) buildGrouped(be BatchEncoder, events []*sysflow.Event, arena []byte, spans []span, out []Message) ([]byte, []span, []Message, error) {
	var groups []eventGroup
	index := map[string]int{}
	var buf []byte
	for _, ev := range events {
		buf = b.dest.Append(buf[:0], ev, b.safe)
		n := len(buf)
		buf = append(buf, 0)
		if b.key != nil {
			buf = b.key.Append(buf, ev, AnySafe)
		}
		i, ok := index[string(buf)]
		if !ok {
			i = len(groups)
			index[string(buf)] = i
			groups = append(groups, eventGroup{dest: string(buf[:n]), key: string(buf[n+1:])})
		}
		groups[i].events = append(groups[i].events, ev)
	}
	for _, g := range groups {
		for rest := g.events; len(rest) > 0; {
			s := span{kStart: len(arena)}
			arena = append(arena, g.key...)
			s.kEnd, s.vStart = len(arena), len(arena)
			var n int
			var err error
			arena, n, err = be.AppendEvents(arena, rest)
			if err != nil {
				return arena, spans, out, fmt.Errorf("encode %d events (first ts %d) for %q: %w", len(rest), rest[0].TS, g.dest, err)
			}
			if n < 1 || n > len(rest) {
				return arena, spans, out, fmt.Errorf("encoding %T took %d of %d events", be, n, len(rest))
			}
			s.vEnd = len(arena)
			spans = append(spans, s)
			out = append(out, Message{Dest: g.dest})
			rest = rest[n:]
		}
	}
	return arena, spans, out, nil
}

// Offer hands msg to out once one of the in-flight slots is free, carrying
// batch when it is not nil. It returns false, holding no slot, when ctx
// ends first; on true the caller owns a slot until the message is settled.
func Offer(ctx context.Context, slots chan struct{}, out chan<- *message.Message, msg *message.Message, batch *Batch) bool {
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	if batch != nil {
		sysflow.WithBatch(msg, batch)
	}
	select {
	case out <- msg:
		return true
	case <-ctx.Done():
		<-slots
		return false
	}
}
