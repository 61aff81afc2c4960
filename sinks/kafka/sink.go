package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/sfconnector/sfconnector/internal/bus"
	"github.com/sfconnector/sfconnector/internal/kafkaconn"
)

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("kafka sink: closed")

// Sink is a Watermill Publisher writing to Kafka. It is safe for concurrent
// use; concurrent Publish calls share produce batches.
//
// Invariants: Publish returns nil only after every wire message of every
// given message was acknowledged as configured by Acks. Close waits for the
// Publish calls in progress (they fail fast once Close began) and then
// closes the writer; nothing the sink owns runs after Close returns.
type Sink struct {
	cfg     Config
	w       *kafkago.Writer
	admin   *kafkago.Client
	builder *bus.Builder

	ctx    context.Context // cancelled by Close: aborts writes in progress
	cancel context.CancelFunc

	bufs sync.Pool // *publishBuf

	mu      sync.RWMutex // held for reading by Publish, for writing by Close
	closed  bool
	created sync.Map // topics known to exist (CreateTopics)
}

// New validates cfg and returns a sink. It does not connect: the first
// Publish does.
func New(cfg Config) (*Sink, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	conn, err := kafkaconn.Resolve("kafka.", &cfg.TLS, &cfg.SASL)
	if err != nil {
		return nil, err
	}
	acks, _ := requiredAcks(cfg.Acks)
	comp, _ := compression(cfg.Compression)
	transport := conn.Transport(cfg.DialTimeout)
	topic, _ := bus.ParseTemplate(cfg.Topic)
	var key *bus.Template
	if cfg.Key != "-" {
		key, _ = bus.ParseTemplate(cfg.Key)
	}
	s := &Sink{
		cfg: cfg,
		w: &kafkago.Writer{
			Addr:            kafkago.TCP(cfg.Brokers...),
			Balancer:        &kafkago.Murmur2Balancer{}, // the Java client's partitioner: same key, same partition
			MaxAttempts:     cfg.MaxAttempts,
			WriteBackoffMin: 50 * time.Millisecond,
			WriteBackoffMax: time.Second,
			BatchSize:       cfg.BatchSize,
			BatchBytes:      cfg.BatchBytes,
			BatchTimeout:    cfg.BatchTimeout,
			ReadTimeout:     cfg.WriteTimeout,
			WriteTimeout:    cfg.WriteTimeout,
			RequiredAcks:    acks,
			Compression:     comp,
			Transport:       transport,
			// Topics are created explicitly (CreateTopics) or must exist;
			// broker-side auto-creation would make them with the broker's
			// defaults, usually one partition.
			AllowAutoTopicCreation: false,
			ErrorLogger: kafkago.LoggerFunc(func(f string, a ...any) {
				cfg.Logger.Error("kafka writer", fmt.Errorf(f, a...), nil)
			}),
		},
		admin:   &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Transport: transport, Timeout: cfg.WriteTimeout},
		builder: bus.NewBuilder(topic, key, bus.KafkaTopicSafe, cfg.Encoder),
	}
	s.bufs.New = func() any { return new(publishBuf) }
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Publish writes every event of every message's batch (or the payload of a
// message without a batch) to Kafka. The topic argument is ignored: the
// sink's topic template decides. It returns when every write was
// acknowledged, or the first error.
func (s *Sink) Publish(_ string, msgs ...*message.Message) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	buf := s.bufs.Get().(*publishBuf)
	wire, arena, err := s.builder.BuildInto(msgs, buf.wire[:0], buf.arena)
	buf.wire, buf.arena = wire, arena
	if err != nil {
		s.bufs.Put(buf)
		return fmt.Errorf("kafka sink: %w", err)
	}
	if len(wire) == 0 {
		s.bufs.Put(buf)
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.WriteTimeout)
	defer cancel()
	kms := slices.Grow(buf.kms[:0], len(wire))[:len(wire)]
	buf.kms = kms
	for i := range wire {
		kms[i] = kafkago.Message{Topic: wire[i].Dest, Key: wire[i].Key, Value: wire[i].Value}
	}
	if s.cfg.CreateTopics {
		if err := s.ensureTopics(ctx, kms); err != nil {
			s.bufs.Put(buf)
			return err
		}
	}
	if err := s.w.WriteMessages(ctx, kms...); err != nil {
		// The writer may still hold the messages (a write cut short by
		// the context goes on in its goroutines): the buffer is not reused.
		return fmt.Errorf("kafka sink: write %d messages to %s (brokers %v): %w", len(kms), kms[0].Topic, s.cfg.Brokers, summarize(err))
	}
	// Every message was acknowledged: the writer is done with their bytes.
	s.bufs.Put(buf)
	return nil
}

// publishBuf is the memory of one Publish call, reused by the next one
// once every message of the call was acknowledged: the arena the keys and
// values are encoded into (megabytes for a large batch, which would
// otherwise be allocated and zeroed on every call) and the message slices.
type publishBuf struct {
	arena []byte
	wire  []bus.Message
	kms   []kafkago.Message
}

// summarize shortens kafka-go's per-message error list to its first error
// and a count.
func summarize(err error) error {
	var we kafkago.WriteErrors
	if errors.As(err, &we) {
		n := we.Count()
		for _, e := range we {
			if e != nil {
				return fmt.Errorf("%d failed, first: %w", n, e)
			}
		}
	}
	return err
}

func (s *Sink) ensureTopics(ctx context.Context, kms []kafkago.Message) error {
	var missing []kafkago.TopicConfig
	seen := map[string]bool{}
	for i := range kms {
		t := kms[i].Topic
		if seen[t] {
			continue
		}
		seen[t] = true
		if _, ok := s.created.Load(t); !ok {
			missing = append(missing, kafkago.TopicConfig{Topic: t, NumPartitions: s.cfg.Partitions, ReplicationFactor: s.cfg.ReplicationFactor})
		}
	}
	if len(missing) == 0 {
		return nil
	}
	resp, err := s.admin.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: missing})
	if err != nil {
		return fmt.Errorf("kafka sink: create topics (kafka.create.topics): %w", err)
	}
	for t, terr := range resp.Errors {
		if terr != nil && !errors.Is(terr, kafkago.TopicAlreadyExists) {
			return fmt.Errorf("kafka sink: create topic %q (kafka.create.topics): %w", t, terr)
		}
		s.created.Store(t, struct{}{})
	}
	// Give the cluster's metadata a moment to list the new partitions
	// before the writer looks them up.
	return s.waitTopics(ctx, missing)
}

func (s *Sink) waitTopics(ctx context.Context, topics []kafkago.TopicConfig) error {
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Topic
	}
	for {
		md, err := s.admin.Metadata(ctx, &kafkago.MetadataRequest{Topics: names})
		if err == nil {
			ready := 0
			for _, t := range md.Topics {
				if t.Error == nil && len(t.Partitions) > 0 {
					ready++
				}
			}
			if ready == len(names) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka sink: topics %v not ready: %w", names, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close stops the sink: Publish calls in progress are aborted (they return
// an error, so their messages are retried elsewhere or later), then the
// writer is closed.
func (s *Sink) Close() error {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.w.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("kafka sink: close writer: %w", err)
	}
	return nil
}

var _ message.Publisher = (*Sink)(nil)
