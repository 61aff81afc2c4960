package kafka_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sfconnector/sfconnector/internal/conformance"
	"github.com/sfconnector/sfconnector/internal/testcert"
	"github.com/sfconnector/sfconnector/sources/kafka"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv"
)

// produce writes values with franz-go (not our sink), keyed by key(i).
func produce(t *testing.T, brokers []string, topic string, from, n int, opts ...kgo.Opt) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.AllowAutoTopicCreation(),
		kgo.DefaultProduceTopic(topic)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		node := fmt.Sprintf("n%d", i%5)
		recs = append(recs, &kgo.Record{Key: []byte(node), Value: []byte(node + "||" + strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func newSource(t *testing.T, cfg kafka.Config) *kafka.Source {
	t.Helper()
	if cfg.Decoder == nil {
		cfg.Decoder = conformance.Codec{}
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 3 * time.Second
	}
	s, err := kafka.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// receive acks messages until want distinct seqs were seen, returning how
// many times each was seen.
func receive(t *testing.T, ch <-chan *message.Message, want int, ack func(*message.Message) bool) map[int64]int {
	t.Helper()
	seen := map[int64]int{}
	deadline := time.After(30 * time.Second)
	for len(seen) < want {
		select {
		case msg, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %d of %d", len(seen), want)
			}
			for _, ev := range sysflow.BatchOf(msg).Events {
				seen[ev.TS]++
			}
			if ack == nil || ack(msg) {
				msg.Ack()
			}
		case <-deadline:
			t.Fatalf("received %d of %d", len(seen), want)
		}
	}
	return seen
}

func TestStartLatestSkipsOldMessages(t *testing.T) {
	brokers := testenv.Kafka(t)
	topic := testenv.Name(t, "latest")
	produce(t, brokers, topic, 0, 10)
	src := newSource(t, kafka.Config{Brokers: brokers, Group: testenv.Name(t, "g"), StartOffset: "latest"})
	ch, err := src.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	// Give the reader time to join and take the end offsets, then write.
	time.Sleep(3 * time.Second)
	produce(t, brokers, topic, 100, 10)
	seen := receive(t, ch, 10, nil)
	for s := range seen {
		if s < 100 {
			t.Fatalf("start=latest delivered old message %d", s)
		}
	}
}

// Two members of one group: the second joins while the first holds
// unacked batches; when the first closes, everything it had not acked is
// delivered to the second, and everything either acked stays acked.
func TestRebalanceHandsOverUnacked(t *testing.T) {
	brokers := testenv.Kafka(t)
	topic := testenv.Name(t, "rebal")
	group := testenv.Name(t, "g")
	produce(t, brokers, topic, 0, 300)
	a := newSource(t, kafka.Config{Brokers: brokers, Group: group, BatchSize: 10, MaxInFlight: 8})
	chA, err := a.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	// A acks every other batch it gets, leaving the rest in flight.
	acked := map[int64]bool{}
	n := 0
	for len(acked) < 30 {
		select {
		case msg := <-chA:
			n++
			if n%2 == 0 {
				for _, ev := range sysflow.BatchOf(msg).Events {
					acked[ev.TS] = true
				}
				msg.Ack()
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("member A stalled after %d messages", n)
		}
	}
	b := newSource(t, kafka.Config{Brokers: brokers, Group: group, BatchSize: 10})
	chB, err := b.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	missing := map[int64]bool{}
	for s := int64(0); s < 300; s++ {
		if !acked[s] {
			missing[s] = true
		}
	}
	deadline := time.After(30 * time.Second)
	for len(missing) > 0 {
		select {
		case msg := <-chB:
			for _, ev := range sysflow.BatchOf(msg).Events {
				delete(missing, ev.TS)
			}
			msg.Ack()
		case <-deadline:
			t.Fatalf("%d messages never acked by A were not delivered to B (e.g. %v)", len(missing), anyKey(missing))
		}
	}
}

func anyKey(m map[int64]bool) int64 {
	for k := range m {
		return k
	}
	return -1
}

func TestTLSAndSCRAM(t *testing.T) {
	certs := testcert.New(t)
	cluster := testenv.StartKafka(t, testenv.KafkaOptions{TLS: certs.Server,
		Users: []testenv.KafkaUser{{Mechanism: "SCRAM-SHA-512", User: "bob", Password: "pw"}}})
	topic := testenv.Name(t, "sec")
	pool := loadPool(t, certs.CAFile)
	produce(t, cluster.Addrs(), topic, 0, 5, kgo.DialTLSConfig(pool), kgo.SASL(scram512("bob", "pw")))
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("pw"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := newSource(t, kafka.Config{Brokers: cluster.Addrs(), Group: testenv.Name(t, "g"),
		TLS:  kafka.TLSConfig{CA: certs.CAFile},
		SASL: kafka.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "bob", PasswordFile: pwFile}})
	ch, err := src.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	receive(t, ch, 5, nil)
}

func TestSourceConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  kafka.Config
		want string
	}{
		// a source driver's keys are unprefixed (brokers, sasl.*, tls.*):
		// its errors must not name the exporter's kafka.* keys
		{kafka.Config{Group: "g"}, "brokers: at least one broker address is required"},
		{kafka.Config{Brokers: []string{"h:1"}}, "group: "},
		{kafka.Config{Brokers: []string{"h:1"}, Group: "g", StartOffset: "middle"}, "start: "},
		{kafka.Config{Brokers: []string{"h:1"}, Group: "g", HeartbeatInterval: 20 * time.Second}, "the heartbeat interval"},
		{kafka.Config{Brokers: []string{"h:1"}, Group: "g", SASL: kafka.SASLConfig{Mechanism: "GSSAPI"}}, `sasl.mechanism: "GSSAPI" is not one of`},
		{kafka.Config{Brokers: []string{"h:1"}, Group: "g", TLS: kafka.TLSConfig{CA: "/nonexistent/ca.pem"}}, "tls.ca: "},
	} {
		if _, err := kafka.New(tc.cfg); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("error %v, want one starting %q", err, tc.want)
		}
	}
}
