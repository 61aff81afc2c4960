package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sfconnector/sfconnector/testenv"
	"github.com/sfconnector/sfconnector/testenv/parity"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// TestKafkaConfigExporter runs an sf-processor 0.7.0 style pipeline whose
// Kafka exporter is configured only through kafka.config (librdkafka
// properties) against the kfake broker, on a real trace: every record the
// reference exported for it must arrive in the topic, read back with
// franz-go, and the properties without an equivalent are warned about.
func TestKafkaConfigExporter(t *testing.T) {
	cleanEnv(t)
	brokers := testenv.Kafka(t)
	topic := testenv.Name(t, "kc")
	trace := filepath.Join(shared.Path(t, "traces"), "tcp.sf")
	want := len(parity.LoadLines(t, shared.Path(t, "parity", "telemetry", "tcp.jsonl.gz")))
	cfg := map[string]any{"pipeline": []map[string]any{
		{"processor": "sysflowreader", "handler": "flattener", "in": "sysflow sysflowchan", "out": "flat flattenerchan"},
		{"processor": "exporter", "in": "flat flattenerchan", "export": "kafka", "format": "json",
			"kafka.topic": topic, "kafka.create.topics": "true", "kafka.key": "-",
			"kafka.config": map[string]any{"bootstrap.servers": strings.Join(brokers, ","), "acks": "-1",
				"compression.type": "lz4", "linger.ms": 2, "batch.num.messages": 50, "client.id": "sf-processor"}},
	}}
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pipeline.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-driver", "file", "-config", path, "-log", "warn", trace}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, tail(stderr.String(), 2000))
	}
	if !strings.Contains(stderr.String(), `kafka.config \"client.id\" has no equivalent`) {
		t.Errorf("no warning for client.id on stderr:\n%s", tail(stderr.String(), 2000))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := 0
	for got < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records from %s", got, want, topic)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var v map[string]any
			if err := json.Unmarshal(r.Value, &v); err != nil || v["type"] == nil {
				t.Errorf("record %d is not a JSON flat record: %v: %.100s", got, err, r.Value)
			}
			got++
		})
	}
	if got != want {
		t.Errorf("%d records in the topic, the reference exported %d", got, want)
	}
}
