package kafka_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sfconnector/sfconnector/encoding/avro"
	"github.com/sfconnector/sfconnector/internal/conformance"
	"github.com/sfconnector/sfconnector/internal/testcert"
	"github.com/sfconnector/sfconnector/sinks/kafka"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// readAll reads n records of topic with franz-go (the independent checker:
// none of our code is on the read path).
func readAll(t *testing.T, brokers []string, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records from %s", len(out), n, topic)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func batchMsg(evs ...*sysflow.Event) *message.Message {
	return sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), &sysflow.Batch{Events: evs})
}

func TestKeysPartitionsAndCompression(t *testing.T) {
	brokers := testenv.Kafka(t)
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			topic := testenv.Name(t, "k")
			s, err := kafka.New(kafka.Config{Brokers: brokers, Topic: topic, Compression: codec,
				CreateTopics: true, Partitions: 4, Encoder: conformance.Codec{}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var evs []*sysflow.Event
			for i := int64(0); i < 200; i++ {
				evs = append(evs, conformance.Event(fmt.Sprintf("n%d", i%3), fmt.Sprintf("c%d", i%2), i))
			}
			if err := s.Publish("ignored", batchMsg(evs[:100]...), batchMsg(evs[100:]...)); err != nil {
				t.Fatal(err)
			}
			recs := readAll(t, brokers, topic, 200)
			partOf := map[string]int32{}
			lastTS := map[string]int{}
			for _, r := range recs {
				key := string(r.Key)
				parts := strings.Split(string(r.Value), "|")
				if want := parts[0] + ":" + parts[1]; key != want {
					t.Fatalf("key %q for value %q, want %q", key, r.Value, want)
				}
				if p, ok := partOf[key]; ok && p != r.Partition {
					t.Fatalf("key %s in partitions %d and %d", key, p, r.Partition)
				}
				partOf[key] = r.Partition
				var ts int
				fmt.Sscan(parts[2], &ts)
				if prev, ok := lastTS[key]; ok && ts <= prev {
					t.Fatalf("key %s: %d after %d", key, ts, prev)
				}
				lastTS[key] = ts
			}
			if len(partOf) != 6 {
				t.Fatalf("%d keys, want 6", len(partOf))
			}
		})
	}
}

func TestTopicTemplate(t *testing.T) {
	brokers := testenv.Kafka(t)
	prefix := testenv.Name(t, "tpl")
	s, err := kafka.New(kafka.Config{Brokers: brokers, Topic: prefix + ".{node}.{priority}", CreateTopics: true,
		Encoder: conformance.Codec{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hi := conformance.Event("web/1", "", 1) // '/' is not allowed in a topic: becomes '_'
	hi.Matches = []sysflow.Match{{Rule: "r", Priority: sysflow.PriorityHigh}}
	lo := conformance.Event("db", "", 2)
	if err := s.Publish("", batchMsg(hi, lo)); err != nil {
		t.Fatal(err)
	}
	if r := readAll(t, brokers, prefix+".web_1.high", 1); string(r[0].Value) != "web/1||1" {
		t.Fatalf("high topic holds %q", r[0].Value)
	}
	if r := readAll(t, brokers, prefix+".db.low", 1); string(r[0].Value) != "db||2" {
		t.Fatalf("low topic holds %q", r[0].Value)
	}
}

func TestConfigErrors(t *testing.T) {
	enc := conformance.Codec{}
	tests := []struct {
		name string
		cfg  kafka.Config
		want string
	}{
		{"no brokers", kafka.Config{Topic: "t", Encoder: enc}, "kafka.brokers"},
		{"bad broker", kafka.Config{Brokers: []string{"nohost"}, Topic: "t", Encoder: enc}, "kafka.brokers"},
		{"no topic", kafka.Config{Brokers: []string{"h:1"}, Encoder: enc}, "kafka.topic"},
		{"bad placeholder", kafka.Config{Brokers: []string{"h:1"}, Topic: "a.{nod}", Encoder: enc}, "{nod}"},
		{"bad acks", kafka.Config{Brokers: []string{"h:1"}, Topic: "t", Acks: "two", Encoder: enc}, "kafka.acks"},
		{"bad compression", kafka.Config{Brokers: []string{"h:1"}, Topic: "t", Compression: "brotli", Encoder: enc}, "kafka.compression"},
		{"bad mechanism", kafka.Config{Brokers: []string{"h:1"}, Topic: "t", Encoder: enc, SASL: kafka.SASLConfig{Mechanism: "GSSAPI"}}, "kafka.sasl.mechanism"},
		{"no password", kafka.Config{Brokers: []string{"h:1"}, Topic: "t", Encoder: enc, SASL: kafka.SASLConfig{Mechanism: "PLAIN", Username: "u"}}, "kafka.sasl.password_file"},
		{"no encoder", kafka.Config{Brokers: []string{"h:1"}, Topic: "t"}, "encoder"},
		{"missing CA", kafka.Config{Brokers: []string{"h:1"}, Topic: "t", Encoder: enc, TLS: kafka.TLSConfig{CA: "/nonexistent/ca.pem"}}, "kafka.tls.ca"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kafka.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	cfg := kafka.Config{SASL: kafka.SASLConfig{Mechanism: "PLAIN", Username: "u", Password: "hunter2"}}
	for _, s := range []string{fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprint(cfg.SASL.Password)} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("password printed: %s", s)
		}
	}
}

// TLS with a verified certificate and SASL, each mechanism against a
// cluster that requires it.
func TestTLSAndSASL(t *testing.T) {
	certs := testcert.New(t)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			cluster := testenv.StartKafka(t, testenv.KafkaOptions{TLS: certs.Server,
				Users: []testenv.KafkaUser{{Mechanism: mech, User: "alice", Password: "s3cret"}}})
			topic := testenv.Name(t, "sec")
			cfg := kafka.Config{Brokers: cluster.Addrs(), Topic: topic, CreateTopics: true, Encoder: conformance.Codec{},
				TLS:  kafka.TLSConfig{CA: certs.CAFile},
				SASL: kafka.SASLConfig{Mechanism: mech, Username: "alice", PasswordFile: pwFile}}
			s, err := kafka.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Publish("", batchMsg(conformance.Event("n", "", 7))); err != nil {
				t.Fatalf("publish over TLS+%s: %v", mech, err)
			}

			// A wrong password and an unverified certificate both fail.
			bad := cfg
			bad.SASL.PasswordFile, bad.SASL.Password = "", "wrong"
			bad.WriteTimeout, bad.MaxAttempts = 3*time.Second, 1
			bs, err := kafka.New(bad)
			if err != nil {
				t.Fatal(err)
			}
			defer bs.Close()
			if err := bs.Publish("", batchMsg(conformance.Event("n", "", 8))); err == nil {
				t.Fatal("publish with a wrong password succeeded")
			}
			noCA := cfg
			noCA.TLS = kafka.TLSConfig{Enable: true}
			noCA.WriteTimeout, noCA.MaxAttempts = 3*time.Second, 1
			ns, err := kafka.New(noCA)
			if err != nil {
				t.Fatal(err)
			}
			defer ns.Close()
			if err := ns.Publish("", batchMsg(conformance.Event("n", "", 9))); err == nil {
				t.Fatal("publish to a server with an untrusted certificate succeeded")
			}
		})
	}
}

// Raw records forwarded in registry Avro (the record schema) arrive in
// order, one stream in one partition, and decode to the same records.
func TestRawRecordsInRegistryAvro(t *testing.T) {
	brokers := testenv.Kafka(t)
	reg, err := avro.NewRegistry(avro.Config{RegistryURL: testenv.SchemaRegistry(t), Schema: avro.SchemaRecord})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := avro.NewEncoder(reg)
	if err != nil {
		t.Fatal(err)
	}
	topic := testenv.Name(t, "raw")
	s, err := kafka.New(kafka.Config{Brokers: brokers, Topic: topic, CreateTopics: true, Partitions: 4, Encoder: enc})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, c, err := sysflow.OpenFile(filepath.Join(shared.Path(t, "traces"), "tcp.sf"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var recs []sysflow.Record
	for {
		recs, err = r.Next(recs)
		if err != nil {
			break
		}
	}
	half := len(recs) / 2
	for _, part := range [][]sysflow.Record{recs[:half], recs[half:]} {
		msg := sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), &sysflow.Batch{Source: "tcp.sf", Records: part})
		if err := s.Publish("", msg); err != nil {
			t.Fatal(err)
		}
	}
	got := readAll(t, brokers, topic, len(recs))
	dec := avro.NewDecoder(reg)
	var b sysflow.Batch
	for i, kr := range got {
		if kr.Partition != got[0].Partition || string(kr.Key) != string(got[0].Key) {
			t.Fatalf("record %d in partition %d key %q; the stream started in %d key %q", i, kr.Partition, kr.Key, got[0].Partition, got[0].Key)
		}
		if err := dec.Decode(context.Background(), kr.Value, &b); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	for i := range recs {
		want, _ := sysflow.AppendDatum(nil, &recs[i])
		have, _ := sysflow.AppendDatum(nil, &b.Records[i])
		if string(want) != string(have) {
			t.Fatalf("record %d (%s) differs after forwarding", i, recs[i].Kind)
		}
	}
}
