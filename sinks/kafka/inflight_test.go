package kafka_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/internal/conformance"
	"github.com/sfconnector/sfconnector/sinks/kafka"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv"
)

// TestOrderWithFailingAndSlowProduceRequests: small batches give many
// produce requests per partition for each Publish; the broker fails every
// third with a retriable error and holds every fifth back. Every record
// must arrive exactly once, and the records of each key in the order they
// were published. A sink that kept several requests in flight per
// partition and retried a failed one after a later one succeeded, or let
// a later request overtake a held one, would fail here.
func TestOrderWithFailingAndSlowProduceRequests(t *testing.T) {
	k := testenv.StartKafka(t, testenv.KafkaOptions{Partitions: 3})
	topic := testenv.Name(t, "inflight")
	s, err := kafka.New(kafka.Config{Brokers: k.Addrs(), Topic: topic, CreateTopics: true, Partitions: 3,
		BatchSize: 7, Compression: "zstd", Encoder: conformance.Codec{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stats := k.DisturbProduce(3, 5, 20*time.Millisecond)

	const perPublish, publishes = 300, 4
	seq := int64(0)
	for p := 0; p < publishes; p++ {
		var evs []*sysflow.Event
		for i := 0; i < perPublish; i++ {
			evs = append(evs, conformance.Event(fmt.Sprintf("n%d", seq%5), fmt.Sprintf("c%d", seq%3), seq))
			seq++
		}
		if err := s.Publish("", batchMsg(evs...)); err != nil {
			t.Fatalf("publish %d: %v", p, err)
		}
	}
	failed, delayed := stats()
	if failed == 0 || delayed == 0 {
		t.Fatalf("the broker failed %d and delayed %d produce requests; the test needs both", failed, delayed)
	}

	recs := readAll(t, k.Addrs(), topic, int(seq))
	if len(recs) != int(seq) {
		t.Fatalf("read %d records, published %d", len(recs), seq)
	}
	seen := map[int64]bool{}
	last := map[string]int64{}
	for _, r := range recs {
		parts := strings.Split(string(r.Value), "|")
		var ts int64
		if _, err := fmt.Sscan(parts[2], &ts); err != nil {
			t.Fatalf("value %q: %v", r.Value, err)
		}
		if seen[ts] {
			t.Fatalf("record %d delivered twice", ts)
		}
		seen[ts] = true
		key := string(r.Key)
		if prev, ok := last[key]; ok && ts < prev {
			t.Fatalf("key %s: record %d after %d (reordered)", key, ts, prev)
		}
		last[key] = ts
	}
	if len(seen) != int(seq) {
		t.Fatalf("%d distinct records, published %d", len(seen), seq)
	}
	t.Logf("%d records, %d produce requests failed, %d delayed", seq, failed, delayed)
}
