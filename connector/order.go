package connector

import (
	"context"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/sysflow"
)

// streamOrder runs the batches of one stream (sysflow.Batch.Source: a file,
// a connection, a topic) one after the other in the order the source
// delivered them. Bus sources keep many batches in flight and the router
// handles each in its own goroutine; without this, batches of one stream
// would share their Flattener (single-goroutine by design) concurrently,
// be flattened out of order and reach the sinks out of order. Batches of
// different streams still run in parallel.
//
// A turn is issued when the source hands the router a message and held
// while the whole middleware chain handles it: retries and dead-lettering
// included, so a failing batch holds back the later ones of its stream.
// A batch nacked for redelivery comes back as a new message behind those
// delivered since.
type streamOrder struct {
	mu      sync.Mutex
	last    map[string]*turn           // the latest turn of each stream
	pending map[*message.Message]*turn // issued, not yet taken by a handler
}

type turn struct {
	stream string
	ready  chan struct{} // closed when the previous turn of the stream ended
	next   *turn
}

func newStreamOrder() *streamOrder {
	return &streamOrder{last: map[string]*turn{}, pending: map[*message.Message]*turn{}}
}

// issue gives msg the next turn of its batch's stream.
func (o *streamOrder) issue(msg *message.Message) {
	b := sysflow.BatchOf(msg)
	if b == nil {
		return
	}
	t := &turn{stream: b.Source, ready: make(chan struct{})}
	o.mu.Lock()
	defer o.mu.Unlock()
	if prev := o.last[b.Source]; prev != nil {
		prev.next = t
	} else {
		close(t.ready)
	}
	o.last[b.Source] = t
	o.pending[msg] = t
}

func (o *streamOrder) take(msg *message.Message) *turn {
	o.mu.Lock()
	defer o.mu.Unlock()
	t := o.pending[msg]
	delete(o.pending, msg)
	return t
}

// end passes the stream on to the next turn.
func (o *streamOrder) end(t *turn) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if t.next != nil {
		close(t.next.ready)
	} else if o.last[t.stream] == t {
		delete(o.last, t.stream)
	}
}

// middleware waits for the message's turn, runs h, and ends the turn. It
// is the outermost middleware.
func (o *streamOrder) middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		t := o.take(msg)
		if t == nil {
			return h(msg)
		}
		<-t.ready
		defer o.end(t)
		return h(msg)
	}
}

// orderedSource issues turns in the order the source delivers.
type orderedSource struct {
	Source
	order *streamOrder
}

func (s orderedSource) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	in, err := s.Source.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for msg := range in {
			s.order.issue(msg)
			select {
			case out <- msg:
			case <-ctx.Done():
				// Never handled: it is the stream's latest turn, no
				// handler waits behind it.
				if t := s.order.take(msg); t != nil {
					s.order.end(t)
				}
				msg.Nack()
				return
			}
		}
	}()
	return out, nil
}
