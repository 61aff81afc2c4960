package nats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sfconnector/sfconnector/internal/bus"
	"github.com/sfconnector/sfconnector/sysflow"
)

// ErrClosed is returned by Subscribe after Close.
var ErrClosed = errors.New("nats source: closed")

// MetaSubject is the metadata key holding the subject of a delivered
// message's first NATS message.
const MetaSubject = "nats_subject"

// Source is a Watermill Subscriber reading NATS.
//
// Goroutines: per subscription, the nats.go consumer (or subscription)
// callback feeds a channel, one batcher decodes and delivers (bounded by
// MaxInFlight), and one waiter per delivered, unacked message acks or naks
// its NATS messages. Close stops them all, waits, flushes the acks and
// closes the connection.
type Source struct {
	cfg Config
	nc  *nats.Conn
	js  jetstream.JetStream

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	stops  []func()
}

// New validates cfg and connects.
func New(cfg Config) (*Source, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	nc, err := cfg.Connect("", cfg.Logger)
	if err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg, nc: nc}
	if !cfg.CoreNATS {
		if s.js, err = jetstream.New(nc); err != nil {
			nc.Close()
			return nil, fmt.Errorf("nats source: jetstream: %w", err)
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// incoming is one NATS message with how to settle it.
type incoming struct {
	subject string
	data    []byte
	js      jetstream.Msg // nil for core NATS
}

// Subscribe starts reading topic (a subject filter; empty: the configured
// Subject) and returns the channel of delivered messages, closed when ctx
// ends or the source is closed.
func (s *Source) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if topic == "" {
		topic = s.cfg.Subject
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	subCtx, cancel := context.WithCancel(s.ctx)
	in := make(chan incoming, s.cfg.BatchSize)
	push := func(m incoming) bool {
		if subCtx.Err() == nil {
			select {
			case in <- m:
				return true
			case <-subCtx.Done():
			}
		}
		// Closing: hand the message back for delivery elsewhere soon rather
		// than after AckWait (see closeNakDelay).
		if m.js != nil {
			_ = m.js.NakWithDelay(closeNakDelay)
		}
		return false
	}
	var stop func()
	if s.js == nil {
		handler := func(m *nats.Msg) { push(incoming{subject: m.Subject, data: m.Data}) }
		var sub *nats.Subscription
		var err error
		if s.cfg.Queue != "" {
			sub, err = s.nc.QueueSubscribe(topic, s.cfg.Queue, handler)
		} else {
			sub, err = s.nc.Subscribe(topic, handler)
		}
		if err != nil {
			cancel()
			return nil, fmt.Errorf("nats source: subscribe to %q: %w", topic, err)
		}
		// Pending limits are raised: back-pressure comes from the channel.
		_ = sub.SetPendingLimits(1<<20, 256<<20)
		if err := s.nc.Flush(); err != nil {
			cancel()
			return nil, fmt.Errorf("nats source: subscribe to %q: %w", topic, err)
		}
		stop = func() { _ = sub.Unsubscribe() }
	} else {
		cc, err := s.consume(ctx, topic, push)
		if err != nil {
			cancel()
			return nil, err
		}
		stop = func() {
			// Drain hands the consumer's buffered messages to the callback,
			// which naks them since the subscription is closing.
			cc.Drain()
			select {
			case <-cc.Closed():
			case <-time.After(5 * time.Second):
				cc.Stop()
			}
		}
	}
	s.stops = append(s.stops, stop)

	out := make(chan *message.Message)
	d := &deliverer{s: s, out: out, slots: make(chan struct{}, s.cfg.MaxInFlight)}
	s.wg.Add(2)
	go func() { // ties the subscription to the caller's ctx
		defer s.wg.Done()
		select {
		case <-ctx.Done():
		case <-subCtx.Done():
		}
		cancel()
	}()
	go func() {
		defer s.wg.Done()
		left := d.run(subCtx, in)
		stop()
		d.wg.Wait()
		// Messages fetched but never delivered go back to the server now,
		// not after AckWait.
		for {
			select {
			case m := <-in:
				left = append(left, m)
				continue
			default:
			}
			break
		}
		d.settle(left, false, closeNakDelay)
		close(out)
	}()
	return out, nil
}

func (s *Source) consume(ctx context.Context, filter string, push func(incoming) bool) (jetstream.ConsumeContext, error) {
	deliver := jetstream.DeliverAllPolicy
	if s.cfg.DeliverPolicy == "new" {
		deliver = jetstream.DeliverNewPolicy
	}
	maxAck := 2 * s.cfg.MaxInFlight * s.cfg.BatchSize
	if maxAck < 1000 {
		maxAck = 1000
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cons, err := s.js.CreateOrUpdateConsumer(cctx, s.cfg.Stream, jetstream.ConsumerConfig{
		Durable:       s.cfg.Durable,
		FilterSubject: filter,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: deliver,
		AckWait:       s.cfg.AckWait,
		MaxAckPending: maxAck,
		MaxDeliver:    -1,
	})
	if err != nil {
		return nil, fmt.Errorf("nats source: consumer %q on stream %q (durable, stream): %w", s.cfg.Durable, s.cfg.Stream, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		push(incoming{subject: m.Subject(), data: m.Data(), js: m})
	}, jetstream.PullMaxMessages(s.cfg.BatchSize*2), jetstream.PullExpiry(5*time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) {
				s.cfg.Logger.Debug("nats source: consume", watermill.LogFields{"err": err.Error(), "stream": s.cfg.Stream})
			}
		}))
	if err != nil {
		return nil, fmt.Errorf("nats source: consume %q: %w", s.cfg.Durable, err)
	}
	return cc, nil
}

type deliverer struct {
	s     *Source
	out   chan *message.Message
	slots chan struct{}
	wg    sync.WaitGroup
}

// run delivers until ctx ends and returns the messages it took from in but
// did not deliver.
func (d *deliverer) run(ctx context.Context, in <-chan incoming) []incoming {
	cfg := &d.s.cfg
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var first incoming
		select {
		case first = <-in:
		case <-ctx.Done():
			return nil
		}
		if cfg.Decoder == nil {
			msg := message.NewMessage(watermill.NewUUID(), first.data)
			msg.Metadata.Set(MetaSubject, first.subject)
			if !d.send(ctx, msg, nil, []incoming{first}) {
				return []incoming{first}
			}
			continue
		}
		batch := &sysflow.Batch{Source: first.subject}
		ins := make([]incoming, 0, 16)
		ins = append(ins, first)
		d.decode(ctx, &first, batch)
		timer.Reset(cfg.BatchTimeout)
	fill:
		for len(ins) < cfg.BatchSize {
			select {
			case m := <-in:
				ins = append(ins, m)
				d.decode(ctx, &m, batch)
			case <-timer.C:
				break fill
			case <-ctx.Done():
				return ins
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		msg := message.NewMessage(watermill.NewUUID(), nil)
		msg.Metadata.Set(MetaSubject, first.subject)
		if !d.send(ctx, msg, batch, ins) {
			return ins
		}
	}
}

// decode appends m's events to batch; undecodable data is logged with its
// subject and stream sequence, and acked with the rest (holding it back
// would redeliver it forever).
func (d *deliverer) decode(ctx context.Context, m *incoming, batch *sysflow.Batch) {
	if err := d.s.cfg.Decoder.Decode(ctx, m.data, batch); err != nil {
		f := watermill.LogFields{"subject": m.subject}
		if m.js != nil {
			if md, err := m.js.Metadata(); err == nil {
				f["stream_seq"] = md.Sequence.Stream
			}
		}
		d.s.cfg.Logger.Error("nats source: undecodable message skipped", err, f)
	}
}

func (d *deliverer) send(ctx context.Context, msg *message.Message, batch *sysflow.Batch, ins []incoming) bool {
	if !bus.Offer(ctx, d.slots, d.out, msg, batch) {
		return false
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer func() { <-d.slots }()
		select {
		case <-msg.Acked():
			d.settle(ins, true, 0)
		case <-msg.Nacked():
			d.settle(ins, false, d.s.cfg.NackBackoff)
		case <-ctx.Done():
			// Acked before Close began: still ack. Otherwise hand it back
			// for delivery to another consumer now.
			select {
			case <-msg.Acked():
				d.settle(ins, true, 0)
			default:
				d.settle(ins, false, closeNakDelay)
			}
		}
	}()
	return true
}

func (d *deliverer) settle(ins []incoming, ack bool, delay time.Duration) {
	for _, m := range ins {
		if m.js == nil {
			continue
		}
		var err error
		if ack {
			err = m.js.Ack()
		} else {
			err = m.js.NakWithDelay(delay)
		}
		if err != nil {
			d.s.cfg.Logger.Error("nats source: settle", err, watermill.LogFields{"subject": m.subject, "ack": ack})
		}
	}
}

// closeNakDelay is how long the server waits before redelivering what a
// closing subscription hands back. Without it the server redelivers at once
// into the same consumer while it drains, and a message that lands there
// as the consumer stops waits out the whole AckWait (a flaky loss of up to
// 30 s, seen in the conformance suite).
const closeNakDelay = 500 * time.Millisecond

// Close stops every subscription, waits for its goroutines, flushes the
// acks sent so far and closes the connection. Unacked JetStream messages
// are delivered again (after AckWait) to the durable consumer.
func (s *Source) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	err := s.nc.FlushTimeout(2 * time.Second)
	s.nc.Close()
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrTimeout) {
		return fmt.Errorf("nats source: flush acks: %w", err)
	}
	return nil
}

var _ message.Subscriber = (*Source)(nil)
