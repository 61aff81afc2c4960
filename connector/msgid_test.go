package connector_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sfconnector/sfconnector/connector"
	sfjson "github.com/sfconnector/sfconnector/encoding/json"
	natssink "github.com/sfconnector/sfconnector/sinks/nats"
	filesrc "github.com/sfconnector/sfconnector/sources/file"
	"github.com/sfconnector/sfconnector/testenv"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// idSink records the UUID of every message it is given, failing the calls
// its schedule says to fail.
type idSink struct {
	fail func(call int) bool
	mu   sync.Mutex
	ids  []string
}

func (s *idSink) Publish(_ string, msgs ...*message.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		s.ids = append(s.ids, m.UUID)
	}
	if s.fail(len(s.ids)) {
		return errFlaky
	}
	return nil
}

func (s *idSink) Close() error { return nil }

// TestSinkMessageIDStableAcrossRetries: the message a sink gets has an id
// derived from the batch and the sink (the NATS sink's Nats-Msg-Id, which
// lets JetStream drop a retried publish): a retry of a batch reuses it, and
// it differs between batches and between sinks.
func TestSinkMessageIDStableAcrossRetries(t *testing.T) {
	in, _, batches := deliveryInput(t)
	flaky := &idSink{fail: func(c int) bool { return c <= 2 }}
	healthy := &idSink{fail: func(int) bool { return false }}
	src, err := filesrc.New(filesrc.Config{Paths: []string{in}, BatchSize: 1, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	root := &connector.Stage{Name: "flatten", Sinks: []*connector.Sink{{Name: "flaky", Pub: flaky}, {Name: "healthy", Pub: healthy}}}
	p := connector.New(src, root, flatten.Config{Logger: quietLog()},
		connector.Settings{RetryMax: 5, RetryInitial: time.Millisecond, Logger: quietLog()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// the first batch went to the flaky sink three times (two failures),
	// to the healthy one once
	if len(flaky.ids) != batches+2 || len(healthy.ids) != batches {
		t.Fatalf("%d writes to the flaky sink, %d to the healthy one, for %d batches", len(flaky.ids), len(healthy.ids), batches)
	}
	if flaky.ids[0] != flaky.ids[1] || flaky.ids[1] != flaky.ids[2] {
		t.Errorf("the attempts of one batch carry ids %q, %q, %q; want one id", flaky.ids[0], flaky.ids[1], flaky.ids[2])
	}
	seen := map[string]string{}
	for _, s := range []struct {
		name string
		ids  []string
	}{{"flaky", flaky.ids[2:]}, {"healthy", healthy.ids}} {
		for _, id := range s.ids {
			if id == "" {
				t.Fatalf("sink %s: empty message id", s.name)
			}
			if other, ok := seen[id]; ok {
				t.Errorf("id %q given to sink %s twice or to sinks %s and %s", id, s.name, other, s.name)
			}
			seen[id] = s.name
		}
	}
}

// lostAck publishes through its sink and reports the first call failed, as
// when the stream stored the messages but the acks were lost.
type lostAck struct {
	message.Publisher
	mu    sync.Mutex
	calls int
}

func (l *lostAck) Publish(topic string, msgs ...*message.Message) error {
	if err := l.Publisher.Publish(topic, msgs...); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.calls == 1 {
		return errFlaky
	}
	return nil
}

// TestJetStreamRetryNotDuplicated: a NATS JetStream sink whose first publish
// is stored but reported failed is retried; the stream de-duplicates the
// retry by Nats-Msg-Id and holds each event once.
func TestJetStreamRetryNotDuplicated(t *testing.T) {
	url := testenv.NATS(t)
	stream := testenv.Name(t, "RETRY")
	subject := testenv.Name(t, "retry") + ".events"
	in, traces, _ := deliveryInput(t)
	js, err := natssink.New(t.Context(), natssink.Config{ConnConfig: natssink.ConnConfig{URL: url},
		Subject: subject, Stream: stream, CreateStream: true, Encoder: sfjson.New(sfjson.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	jsc, _ := jetstream.New(nc)
	t.Cleanup(func() { _ = jsc.DeleteStream(context.Background(), stream) })
	sink := &lostAck{Publisher: js}
	src, err := filesrc.New(filesrc.Config{Paths: []string{in}, BatchSize: 1, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	p := connector.New(src, &connector.Stage{Name: "flatten", Sinks: []*connector.Sink{{Name: "nats", Pub: sink}}},
		flatten.Config{Logger: quietLog()}, connector.Settings{RetryMax: 3, RetryInitial: time.Millisecond, Logger: quietLog()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if sink.calls < 2 {
		t.Fatalf("%d publishes: the first batch was not retried", sink.calls)
	}
	st, err := jsc.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for seq := uint64(1); ; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				break
			}
			t.Fatal(err)
		}
		lines = append(lines, m.Data)
	}
	// every record, in order, once
	compareOutput(t, traces, lines)
}
