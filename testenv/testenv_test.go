package testenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sfconnector/sfconnector/testenv"
)

// produceConsume writes n records with franz-go and reads them back.
func produceConsume(t *testing.T, brokers []string, topic string, produce, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < produce; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte{byte('a' + i)}}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	var got []string
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume: %v after %d records", err, len(got))
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

func TestKafkaRestartKeepsData(t *testing.T) {
	k := testenv.StartKafka(t, testenv.KafkaOptions{})
	topic := testenv.Name(t, "t")
	if got := produceConsume(t, k.Addrs(), topic, 3, 3); len(got) != 3 || got[0] != "a" || got[2] != "c" {
		t.Fatalf("before restart read %q, want a b c", got)
	}
	addrs := k.Addrs()
	if err := k.Restart(100 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if k.Addrs()[0] != addrs[0] {
		t.Fatalf("restart moved the broker from %s to %s", addrs[0], k.Addrs()[0])
	}
	// The three old records are still there, followed by three new ones.
	got := produceConsume(t, k.Addrs(), topic, 3, 6)
	if len(got) != 6 || got[0] != "a" || got[2] != "c" || got[3] != "a" || got[5] != "c" {
		t.Fatalf("after restart read %q, want a b c a b c", got)
	}
}

func TestNATSEmbeddedRestart(t *testing.T) {
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	nc, err := nats.Connect(n.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AddStream(&nats.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish("s.x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := n.Restart(50 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var info *nats.StreamInfo
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err = js.StreamInfo("S")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("stream holds %d messages after restart, want 1", info.State.Msgs)
	}
}

func TestNATSURLAnswers(t *testing.T) {
	nc, err := nats.Connect(testenv.NATS(t), nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if !nc.IsConnected() {
		t.Fatal("not connected")
	}
}
