package nats

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sfconnector/sfconnector/internal/bus"
)

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("nats sink: closed")

// Sink is a Watermill Publisher writing to NATS. It is safe for concurrent
// use.
//
// Invariants: with JetStream, Publish returns nil only after the stream
// acknowledged every message it was given. Close aborts the Publish calls
// in progress (they return an error), waits for them, then closes the
// connection.
type Sink struct {
	cfg     Config
	nc      *nats.Conn
	js      jetstream.JetStream
	builder *bus.Builder

	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.RWMutex
	closed bool
}

// New validates cfg, connects, and (with CreateStream) makes sure the
// stream exists.
func New(ctx context.Context, cfg Config) (*Sink, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	subject, _ := bus.ParseTemplate(cfg.Subject)
	nc, err := cfg.Connect("nats.", cfg.Logger)
	if err != nil {
		return nil, err
	}
	s := &Sink{cfg: cfg, nc: nc, builder: bus.NewBuilder(subject, nil, bus.SubjectTokenSafe, cfg.Encoder)}
	if !cfg.CoreNATS {
		s.js, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(cfg.MaxPending),
			jetstream.WithPublishAsyncTimeout(cfg.PublishTimeout))
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("nats sink: jetstream: %w", err)
		}
		if cfg.CreateStream {
			_, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
				Name:     cfg.Stream,
				Subjects: []string{StreamSubject(cfg.Subject)},
				Storage:  jetstream.FileStorage,
			})
			if err != nil {
				nc.Close()
				return nil, fmt.Errorf("nats sink: create stream %q for %q (nats.stream): %w", cfg.Stream, StreamSubject(cfg.Subject), err)
			}
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Publish writes every event of every message's batch (or the payload of a
// message without a batch). The topic argument is ignored: the subject
// template decides.
func (s *Sink) Publish(_ string, msgs ...*message.Message) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.PublishTimeout)
	defer cancel()
	for _, msg := range msgs {
		wire, err := s.builder.Build([]*message.Message{msg}, nil)
		if err != nil {
			return fmt.Errorf("nats sink: %w", err)
		}
		if s.js == nil {
			if err := s.publishCore(ctx, wire); err != nil {
				return err
			}
			continue
		}
		if err := s.publishJS(ctx, msg.UUID, wire); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) publishCore(ctx context.Context, wire []bus.Message) error {
	for i := range wire {
		if err := s.nc.Publish(wire[i].Dest, wire[i].Value); err != nil {
			return fmt.Errorf("nats sink: publish to %s: %w", wire[i].Dest, err)
		}
	}
	if err := s.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("nats sink: flush %d messages: %w", len(wire), err)
	}
	return nil
}

func (s *Sink) publishJS(ctx context.Context, id string, wire []bus.Message) error {
	futures := make([]jetstream.PubAckFuture, 0, len(wire))
	var idBuf []byte
	for i := range wire {
		// The id makes a retried Publish of the same Watermill message a
		// duplicate the stream drops (within its duplicate window).
		idBuf = strconv.AppendInt(append(append(idBuf[:0], id...), ':'), int64(i), 10)
		m := &nats.Msg{Subject: wire[i].Dest, Data: wire[i].Value, Header: nats.Header{}}
		m.Header.Set(jetstream.MsgIDHeader, string(idBuf))
		f, err := s.js.PublishMsgAsync(m, jetstream.WithStallWait(s.cfg.PublishTimeout))
		if err != nil {
			return fmt.Errorf("nats sink: publish to %s: %w", wire[i].Dest, err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("nats sink: publish to %s not acknowledged: %w", f.Msg().Subject, err)
		case <-ctx.Done():
			return fmt.Errorf("nats sink: waiting for %d acks: %w", len(futures), ctx.Err())
		}
	}
	return nil
}

// Close aborts the Publish calls in progress, waits for them, and closes
// the connection.
func (s *Sink) Close() error {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	// Everything published was flushed or acked by the returned Publish
	// calls; a flush covers core publishes of calls that failed.
	err := s.nc.FlushTimeout(2 * time.Second)
	s.nc.Close()
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrTimeout) {
		return fmt.Errorf("nats sink: flush on close: %w", err)
	}
	return nil
}

var _ message.Publisher = (*Sink)(nil)
