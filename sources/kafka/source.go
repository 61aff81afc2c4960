package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/sfconnector/sfconnector/internal/bus"
	"github.com/sfconnector/sfconnector/internal/kafkaconn"
	"github.com/sfconnector/sfconnector/sysflow"
)

// ErrClosed is returned by Subscribe after Close.
var ErrClosed = errors.New("kafka source: closed")

// Metadata keys set on delivered messages.
const (
	MetaTopic     = "kafka_topic"     // topic of the first Kafka message of the batch
	MetaPartition = "kafka_partition" // its partition
	MetaOffset    = "kafka_offset"    // its offset
	MetaKey       = "key"             // its key (payload mode only)
)

// Source is a Watermill Subscriber reading Kafka topics in a consumer group.
//
// Goroutines: each subscription runs a fetcher (kafka-go's reader into a
// channel), a batcher (decodes and delivers, bounded by MaxInFlight) and one
// waiter per delivered, unacked message. Close cancels them all and waits
// for them, then closes the readers (which flushes acked offsets) and the
// output channels.
type Source struct {
	cfg  Config
	conn kafkaconn.Settings

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	readers []*kafkago.Reader
}

// New validates cfg and returns a source. It does not connect: Subscribe does.
func New(cfg Config) (*Source, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	conn, err := kafkaconn.Resolve("", &cfg.TLS, &cfg.SASL)
	if err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg, conn: conn}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Subscribe joins the group on topic (comma-separated topics allowed; empty:
// the configured Topics) and returns the channel of delivered messages. The
// channel is closed when ctx ends or the source is closed.
func (s *Source) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	topics := s.cfg.Topics
	if topic != "" {
		topics = strings.Split(topic, ",")
	}
	if len(topics) == 0 {
		return nil, fmt.Errorf("kafka source: no topic (kafka.topic)")
	}
	start := kafkago.FirstOffset
	if strings.EqualFold(s.cfg.StartOffset, "latest") {
		start = kafkago.LastOffset
	}
	logErr := kafkago.LoggerFunc(func(f string, a ...any) {
		s.cfg.Logger.Error("kafka reader", fmt.Errorf(f, a...), watermill.LogFields{"group": s.cfg.Group, "topics": topics})
	})
	logInfo := kafkago.LoggerFunc(func(f string, a ...any) {
		s.cfg.Logger.Trace(fmt.Sprintf(f, a...), watermill.LogFields{"group": s.cfg.Group})
	})
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:       s.cfg.Brokers,
		GroupID:       s.cfg.Group,
		GroupTopics:   topics,
		Dialer:        s.conn.Dialer(s.cfg.DialTimeout),
		QueueCapacity: 4 * s.cfg.BatchSize,
		MinBytes:      1,
		MaxBytes:      16 << 20,
		// Long-poll bound only: data returns at once. kafka-go also uses it as
		// the read deadline (less a quarter for the round trip), so a short
		// value turns every idle fetch on a busy machine into an i/o timeout
		// and a reconnection.
		MaxWait:                2 * time.Second,
		ReadBatchTimeout:       5 * time.Second,
		HeartbeatInterval:      s.cfg.HeartbeatInterval,
		CommitInterval:         s.cfg.CommitInterval,
		PartitionWatchInterval: 2 * time.Second,
		WatchPartitionChanges:  true,
		SessionTimeout:         s.cfg.SessionTimeout,
		RebalanceTimeout:       s.cfg.RebalanceTimeout,
		JoinGroupBackoff:       s.cfg.JoinGroupBackoff,
		StartOffset:            start,
		ReadBackoffMin:         50 * time.Millisecond,
		ReadBackoffMax:         500 * time.Millisecond,
		Logger:                 logInfo,
		ErrorLogger:            logErr,
		MaxAttempts:            3,
	})

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = r.Close()
		return nil, ErrClosed
	}
	s.readers = append(s.readers, r)
	s.mu.Unlock()

	sub := &subscription{s: s, r: r, topics: topics, tr: newTracker(),
		out: make(chan *message.Message), slots: make(chan struct{}, s.cfg.MaxInFlight)}
	subCtx, cancel := context.WithCancel(s.ctx)
	s.wg.Add(1)
	go func() { // ties the subscription to the caller's ctx as well
		defer s.wg.Done()
		select {
		case <-ctx.Done():
		case <-subCtx.Done():
		}
		cancel()
	}()
	fetched := make(chan kafkago.Message, s.cfg.BatchSize)
	var subWG sync.WaitGroup
	subWG.Add(2)
	s.wg.Add(1)
	go func() { defer subWG.Done(); sub.fetch(subCtx, fetched) }()
	go func() { defer subWG.Done(); sub.deliver(subCtx, fetched, &subWG) }()
	go func() {
		defer s.wg.Done()
		subWG.Wait()
		close(sub.out)
		if err := r.Close(); err != nil {
			s.cfg.Logger.Error("kafka source: close reader", err, watermill.LogFields{"group": s.cfg.Group})
		}
	}()
	return sub.out, nil
}

type subscription struct {
	s      *Source
	r      *kafkago.Reader
	topics []string
	tr     *tracker
	out    chan *message.Message
	slots  chan struct{} // one per delivered, unacked message
}

func (sub *subscription) fetch(ctx context.Context, fetched chan<- kafkago.Message) {
	defer close(fetched)
	for {
		m, err := sub.r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return
			}
			sub.s.cfg.Logger.Error("kafka source: fetch", err, watermill.LogFields{"group": sub.s.cfg.Group, "topics": sub.topics})
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		select {
		case fetched <- m:
		case <-ctx.Done():
			return
		}
	}
}

// deliver groups fetched messages into batches and delivers them.
func (sub *subscription) deliver(ctx context.Context, fetched <-chan kafkago.Message, wg *sync.WaitGroup) {
	cfg := &sub.s.cfg
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var first kafkago.Message
		var ok bool
		select {
		case first, ok = <-fetched:
			if !ok {
				return
			}
		case <-ctx.Done():
			return
		}
		if cfg.Decoder == nil {
			e := sub.tr.add(first.Topic, first.Partition, first.Offset)
			msg := message.NewMessage(watermill.NewUUID(), first.Value)
			setMeta(msg, &first)
			msg.Metadata.Set(MetaKey, string(first.Key))
			if !sub.send(ctx, msg, nil, []*entry{e}, wg) {
				return
			}
			continue
		}
		batch := &sysflow.Batch{Source: first.Topic}
		entries := make([]*entry, 0, cfg.BatchSize)
		sub.add(ctx, &first, batch, &entries)
		timer.Reset(cfg.BatchTimeout)
	fill:
		for len(entries) < cfg.BatchSize {
			select {
			case m, ok := <-fetched:
				if !ok {
					break fill
				}
				sub.add(ctx, &m, batch, &entries)
			case <-timer.C:
				break fill
			case <-ctx.Done():
				return
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		msg := message.NewMessage(watermill.NewUUID(), nil)
		setMeta(msg, &first)
		if !sub.send(ctx, msg, batch, entries, wg) {
			return
		}
	}
}

// add decodes m into batch and tracks its offset. A value that cannot be
// decoded is logged with its position and counted as done: holding the
// partition back forever for it would stop the whole partition.
func (sub *subscription) add(ctx context.Context, m *kafkago.Message, batch *sysflow.Batch, entries *[]*entry) {
	*entries = append(*entries, sub.tr.add(m.Topic, m.Partition, m.Offset))
	if err := sub.s.cfg.Decoder.Decode(ctx, m.Value, batch); err != nil {
		sub.s.cfg.Logger.Error("kafka source: undecodable message skipped", err, watermill.LogFields{
			"topic": m.Topic, "partition": m.Partition, "offset": m.Offset})
	}
}

func setMeta(msg *message.Message, m *kafkago.Message) {
	msg.Metadata.Set(MetaTopic, m.Topic)
	msg.Metadata.Set(MetaPartition, strconv.Itoa(m.Partition))
	msg.Metadata.Set(MetaOffset, strconv.FormatInt(m.Offset, 10))
}

// send delivers msg once a slot is free, and starts the goroutine that waits
// for its ack (commit) or nack (delivery again). It returns false when ctx
// ended first.
func (sub *subscription) send(ctx context.Context, msg *message.Message, batch *sysflow.Batch, entries []*entry, wg *sync.WaitGroup) bool {
	if !bus.Offer(ctx, sub.slots, sub.out, msg, batch) {
		return false
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() { <-sub.slots }()
		sub.await(ctx, msg, batch, entries)
	}()
	return true
}

func (sub *subscription) await(ctx context.Context, msg *message.Message, batch *sysflow.Batch, entries []*entry) {
	for {
		select {
		case <-msg.Acked():
			sub.commit(entries)
			return
		case <-msg.Nacked():
			select {
			case <-time.After(sub.s.cfg.NackBackoff):
			case <-ctx.Done():
				return
			}
			again := message.NewMessage(msg.UUID, msg.Payload)
			for k, v := range msg.Metadata {
				again.Metadata.Set(k, v)
			}
			if batch != nil {
				sysflow.WithBatch(again, batch)
			}
			select {
			case sub.out <- again:
				msg = again
			case <-ctx.Done():
				return
			}
		case <-ctx.Done():
			// An ack that happened before Close began still counts: the
			// reader flushes the offsets it was given when it closes.
			select {
			case <-msg.Acked():
				sub.commit(entries)
			default:
			}
			return
		}
	}
}

// commit hands the offsets that entries make committable to the reader,
// which commits them every CommitInterval and when it closes.
func (sub *subscription) commit(entries []*entry) {
	sub.tr.ack(entries, func(k tp, offset int64) {
		// Not the subscription's context: an ack that raced with Close
		// must still reach the reader before it flushes.
		err := sub.r.CommitMessages(context.Background(), kafkago.Message{Topic: k.topic, Partition: k.partition, Offset: offset})
		if err != nil && !errors.Is(err, io.ErrClosedPipe) {
			sub.s.cfg.Logger.Error("kafka source: commit", err, watermill.LogFields{"topic": k.topic, "partition": k.partition, "offset": offset})
		}
	})
}

// Close stops every subscription: messages not yet acked stay uncommitted
// and are delivered again to the group. It waits for the subscriptions'
// goroutines and closes their readers.
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
	return nil
}

var _ message.Subscriber = (*Source)(nil)
